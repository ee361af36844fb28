import KabarCore
import Foundation
@testable import KabarSQLite
import Synchronization
import KabarTestSupport
import Testing

/// How a database with full durability reports commits: only after the log is flushed,
/// while the worker goes on with the next batch, and never again after a flush failed.
@Suite("SQLite durable commits")
final class DurableCommitTests {
    let directory: String
    let path: String

    init() throws {
        directory = NSTemporaryDirectory() + "kabar-durable-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/kabar.sqlite"
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A database of one table, `t (v INTEGER)`, whose log flushes pass through `flushes`.
    func openDatabase(flushes: FlushGate) throws -> SQLiteDatabase {
        try SQLiteDatabase(path: path, migrations: ["CREATE TABLE t (v INTEGER)"]) { log in
            try flushes.pass()
            try log.flush()
        }
    }

    /// The values in `t`, read through a connection of its own: what is committed,
    /// whether or not the database has reported it.
    func committedValues() throws -> [Int64] {
        let reader = try SQLiteConnection(path: path)
        defer { reader.close() }
        return try reader.query("SELECT v FROM t ORDER BY v").compactMap { $0.integer(0) }
    }

    @Test("a caller hears of its commit only after the log is flushed, and the worker runs the next batch meanwhile")
    func reportedAfterFlush() async throws {
        let flushes = FlushGate()
        let database = try openDatabase(flushes: flushes)
        let reported = Locked<[Int64]>([])
        let secondRan = Locked(false)

        flushes.hold()
        database.submit({ db in try db.execute("INSERT INTO t (v) VALUES (1)") }, completion: { result in
            if case .success = result { reported.withLock { $0.append(1) } }
        })
        try await eventually { flushes.waiting == 1 }  // committed; its flush is held
        database.submit({ db in
            try db.execute("INSERT INTO t (v) VALUES (2)")
            secondRan.withLock { $0 = true }
        }, completion: { result in
            if case .success = result { reported.withLock { $0.append(2) } }
        })
        try await eventually { secondRan.withLock { $0 } }
        try await eventually { try committedValues() == [1, 2] }
        #expect(reported.withLock { $0 }.isEmpty, "a commit was reported before the log was flushed")

        flushes.release()
        try await eventually { reported.withLock { $0 } == [1, 2] }
        #expect(flushes.passed >= 2)  // the migrations' flush, then at least one for the two commits
        await database.close()
    }

    @Test("while a commit waits for the busy flusher, the units that arrive share the next transaction, which commits when the flusher takes it")
    func unitsWaitInOneTransaction() async throws {
        let flushes = FlushGate()
        let database = try openDatabase(flushes: flushes)
        let reported = Locked<[Int64]>([])
        func insert(_ value: Int64) {
            database.submit({ db in try db.execute("INSERT INTO t (v) VALUES (?)", [.integer(value)]) }, completion: { result in
                if case .success = result { reported.withLock { $0.append(value) } }
            })
        }

        flushes.hold()
        insert(1)
        try await eventually { flushes.waiting == 1 }  // 1 is committed; the flusher is inside its flush
        insert(2)
        try await eventually { try committedValues() == [1, 2] }  // 2 commits at once, and waits for the flusher
        for value in Int64(3)...6 { insert(value) }
        // 3…6 run in the next transaction, kept open while 2 waits: none of them is
        // committed yet (each would have been, one by one, before).
        try await Task.sleep(for: .milliseconds(200))
        #expect(try committedValues() == [1, 2])

        flushes.release()
        try await eventually { reported.withLock { $0.sorted() } == [1, 2, 3, 4, 5, 6] }
        #expect(try committedValues() == [1, 2, 3, 4, 5, 6])
        #expect(reported.withLock { $0 } == [1, 2, 3, 4, 5, 6], "callers hear in order")
        await database.close()
    }

    @Test("a worker waiting for the flusher is woken by enough units, or by the flusher taking the waiting commit, not by each unit")
    func wokenForEnoughUnits() async throws {
        let flushes = FlushGate()
        let database = try openDatabase(flushes: flushes)
        let ran = Locked<[Int64]>([])
        let reported = Locked<[Int64]>([])
        func insert(_ value: Int64) {
            database.submit({ db in
                try db.execute("INSERT INTO t (v) VALUES (?)", [.integer(value)])
                ran.withLock { $0.append(value) }
            }, completion: { result in
                if case .success = result { reported.withLock { $0.append(value) } }
            })
        }

        flushes.hold()
        insert(1)
        try await eventually { flushes.waiting == 1 }  // 1 is committed; the flusher is inside its flush
        insert(2)
        try await eventually { try committedValues() == [1, 2] }  // 2 waits for the flusher
        insert(3)  // the idle worker is woken at once; its transaction stays open for the flusher
        try await eventually { ran.withLock { $0 } == [1, 2, 3] }
        let enough = Int64(JobQueue.jobsWorthAWakeUp)
        for value in 4..<(3 + enough) { insert(value) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(ran.withLock { $0 } == [1, 2, 3], "the worker was woken before enough units waited")

        insert(3 + enough)
        try await eventually { ran.withLock { $0 } == Array(1...(3 + enough)) }
        #expect(try committedValues() == [1, 2], "the units that woke it commit only when the flusher takes 2")

        // The flusher takes 2: the unit that came since joins the open transaction first.
        insert(4 + enough)
        flushes.release()
        try await eventually { reported.withLock { $0 } == Array(1...(4 + enough)) }
        await database.close()
    }

    @Test("a failed flush fails the units it covered and every later one, which do not run")
    func failedFlush() async throws {
        struct DiskGone: Error {}
        let flushes = FlushGate()
        let database = try openDatabase(flushes: flushes)
        try await database.write { db in try db.execute("INSERT INTO t (v) VALUES (1)") }

        flushes.failFromNowOn(with: DiskGone())
        await #expect(throws: DiskGone.self) {
            try await database.write { db in try db.execute("INSERT INTO t (v) VALUES (2)") }
        }
        let laterRan = Locked(false)
        await #expect(throws: DiskGone.self) {
            try await database.write { _ in laterRan.withLock { $0 = true } }
        }
        #expect(!laterRan.withLock { $0 })
        #expect(try committedValues() == [1, 2], "the failed flush's commit stays in the log; only its report is withheld")
        await database.close()
    }

    @Test("the log flushed is the one SQLite writes, also when the database path is a symbolic link")
    func logIsTheDatabases() async throws {
        let link = path + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        let database = try SQLiteDatabase(path: link, migrations: ["CREATE TABLE t (v INTEGER)"])
        try await database.write { db in try db.execute("INSERT INTO t (v) VALUES (1)") }
        let logPath = try await database.write { db in db.writeAheadLogPath }
        #expect(logPath == path + "-wal", "SQLite keeps the log next to the file the link names")
        let logSize = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int
        #expect((logSize ?? 0) > 0, "the commit went to that log")
        await database.close()
    }
}

/// Stands between the database and its log flushes: can hold them, count them, or fail them.
///
/// `@unchecked Sendable`: its counters and flags are read and written only with
/// `condition` held.
final class FlushGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isHeld = false
    private var failure: (any Error)?
    private var waitingCount = 0
    private var passedCount = 0

    /// Flushes waiting to pass.
    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return waitingCount
    }

    /// Flushes let through.
    var passed: Int {
        condition.lock()
        defer { condition.unlock() }
        return passedCount
    }

    func hold() {
        condition.lock()
        isHeld = true
        condition.unlock()
    }

    func release() {
        condition.lock()
        isHeld = false
        condition.broadcast()
        condition.unlock()
    }

    func failFromNowOn(with error: any Error) {
        condition.lock()
        failure = error
        condition.unlock()
    }

    /// Called by the flusher before each flush: waits while held, throws once failing.
    func pass() throws {
        condition.lock()
        defer { condition.unlock() }
        waitingCount += 1
        while isHeld { condition.wait() }
        waitingCount -= 1
        if let failure { throw failure }
        passedCount += 1
    }
}


/// Polls `condition` every millisecond for up to 10 s.
func eventually(_ condition: () throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while try !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition still false after 10 s", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}
