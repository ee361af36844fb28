import Foundation
import KabarCore
@testable import KabarSQLite
import KabarTestSupport
import Testing

/// Statements units leave for later in their batch (`deferUntilRead`): run once however
/// many units leave them, before the first unit that may read them and before the
/// commit, and never for a unit that was rolled back.
@Suite("SQLite deferred statements")
final class DeferredStatementsTests {
    let directory: String
    let database: SQLiteDatabase

    init() throws {
        directory = try makeTemporaryDirectory()
        database = try SQLiteDatabase(
            path: directory + "/kabar.sqlite",
            migrations: ["CREATE TABLE pairs (name TEXT PRIMARY KEY, times INTEGER NOT NULL); CREATE TABLE t (v INTEGER)"]
        )
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let addPair = "INSERT INTO pairs (name, times) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET times = times + 1"

    /// Submits `units` while the worker is held inside a first unit, so that all of them
    /// run in the one batch after it; returns their results in order.
    func inOneBatch<T: Sendable>(
        _ units: [(readsDeferredWork: Bool, changes: UnitChanges, body: @Sendable (SQLiteConnection) throws -> T)]
    ) async throws -> [Result<T, any Error>] {
        let gate = Locked(false)
        let held = Locked(false)
        database.submit({ _ in
            held.withLock { $0 = true }
            while !gate.withLock({ $0 }) { usleep(1_000) }
        }, completion: { _ in })
        try await eventually { held.withLock { $0 } }
        let results = Locked<[Int: Result<T, any Error>]>([:])
        for (index, unit) in units.enumerated() {
            database.submit(changes: unit.changes, readsDeferredWork: unit.readsDeferredWork, unit.body) { result in
                results.withLock { $0[index] = result }
            }
        }
        gate.withLock { $0 = true }
        try await eventually { results.withLock { $0.count } == units.count }
        return results.withLock { results in (0..<units.count).map { results[$0]! } }
    }

    @Test("left by many units of a batch, a statement runs once, before the commit")
    func onceAtCommit() async throws {
        let leave: @Sendable (SQLiteConnection) throws -> Int64? = { @Sendable db in
            try db.execute("INSERT INTO t (v) VALUES (1)")
            db.deferUntilRead(Self.addPair, [.text("messi-henderson")])
            return nil
        }
        _ = try await inOneBatch(Array(repeating: (false, .oneStatement, leave), count: 20))
        let times = try await database.write { db in try db.query("SELECT times FROM pairs").first?.integer(0) }
        #expect(times == 1)
        #expect(try await database.write { db in try db.query("SELECT count(*) FROM t").first?.integer(0) } == 20)
    }

    @Test("a unit that may read them runs after them; one that said it does not runs before")
    func readersSeeThem() async throws {
        let count: @Sendable (SQLiteConnection) throws -> Int64? = { @Sendable db in try db.query("SELECT count(*) FROM pairs").first?.integer(0) }
        let results = try await inOneBatch([
            (false, .oneStatement, { @Sendable db -> Int64? in db.deferUntilRead(Self.addPair, [.text("a")]); return nil }),
            (false, .oneStatement, count),
            (true, .oneStatement, count),
        ])
        #expect(try results.map { try $0.get() } == [nil, 0, 1])
    }

    @Test("a unit that is rolled back takes back what it left; the others' still run")
    func rolledBackUnitsTakeTheirsBack() async throws {
        struct Refused: Error {}
        let results = try await inOneBatch([
            (false, .oneStatement, { @Sendable db in db.deferUntilRead(Self.addPair, [.text("kept")]); return 1 }),
            (false, .anyStatements, { @Sendable db throws -> Int in
                db.deferUntilRead(Self.addPair, [.text("rolled back")])
                db.deferUntilRead(Self.addPair, [.text("kept")])
                try db.execute("INSERT INTO t (v) VALUES (2)")
                throw Refused()
            }),
            (false, .oneStatement, { @Sendable db throws -> Int in db.deferUntilRead(Self.addPair, [.text("also kept")]); throw Refused() }),
            (false, .oneStatement, { @Sendable db in db.deferUntilRead(Self.addPair, [.text("last")]); return 4 }),
        ])
        #expect(results.map { (try? $0.get()) ?? 0 } == [1, 0, 0, 4])
        let pairs = try await database.write { db in
            try db.query("SELECT name, times FROM pairs ORDER BY name").map { "\($0.text(0)!)×\($0.integer(1)!)" }
        }
        // "kept" was left by the first unit too, which stands: it runs, once.
        #expect(pairs == ["kept×1", "last×1"])
        #expect(try await database.write { db in try db.query("SELECT count(*) FROM t").first?.integer(0) } == 0)
    }

    @Test("a deferred statement that fails fails the units that left it; the batch's later units get a transaction of their own")
    func failingDeferredStatement() async throws {
        let results = try await inOneBatch([
            (false, .oneStatement, { @Sendable db throws -> Int in
                try db.execute("INSERT INTO t (v) VALUES (1)")
                db.deferUntilRead("INSERT INTO missing_table VALUES (1)", [])
                return 1
            }),
            (true, .oneStatement, { @Sendable db throws -> Int in try db.execute("INSERT INTO t (v) VALUES (2)"); return 2 }),
        ])
        #expect(throws: SQLiteError.self) { try results[0].get() }
        #expect(try results[1].get() == 2)
        let values = try await database.write { db in try db.query("SELECT v FROM t").compactMap { $0.integer(0) } }
        #expect(values == [2])
    }
}
