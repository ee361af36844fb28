import Foundation
import KabarCore

// MARK: - SQLiteDatabase

/// A SQLite database file served by one worker thread, with group commit.
///
/// Callers hand in units of work with ``write(changes:_:)``. The worker takes every unit that is
/// waiting, runs each inside its own savepoint within one transaction, commits once, and
/// only then resumes the callers:
///
///     callers:  write{A}  write{B}  write{C}
///     worker:   BEGIN IMMEDIATE; SAVEPOINT A … RELEASE; SAVEPOINT B … (throws: ROLLBACK TO B);
///               SAVEPOINT C … RELEASE; COMMIT        → A and C get their results, B its error
///
/// A unit that changes the database with one statement at most (``UnitChanges/oneStatement``)
/// runs without a savepoint: SQLite makes each statement all or nothing by itself. So does a
/// unit that makes each of its changes all or nothing itself (``UnitChanges/selfContained``).
///
/// So a reply that waits for `write` waits for a durable commit, while many concurrent
/// writers share one flush of the log. With ``SQLiteDurability/full`` the flush is not part
/// of the commit: a ``CommitFlusher`` does it on a thread of its own while the worker runs the
/// next batch, and resumes the callers after it. A ``LogCheckpointer`` copies the log back
/// into the database file on a thread and a connection of its own. SQLite blocks, so it
/// never runs on an event loop or the cooperative pool.
final class SQLiteDatabase: Sendable {
    private let queue: JobQueue
    /// The most units of work that share one transaction.
    private static let maximumBatch = 512

    /// Opens (creating if needed) the database at `path`, applies pending migrations and
    /// starts the worker thread.
    ///
    /// - Parameter migrations: the schema, oldest first; entry `n` moves `user_version`
    ///   from `n` to `n + 1`.
    /// - Parameter flushLog: how a ``SQLiteDurability/full`` database makes its commits
    ///   durable; tests wrap ``WriteAheadLog/flush()`` to hold or fail it.
    /// - Parameter vfs: the SQLite VFS to open the file through (nil: the system's).
    /// - Parameter checkpointLog: how the ``LogCheckpointer`` copies the log back into the
    ///   database file on its own connection; tests wrap ``SQLiteConnection/checkpoint()``
    ///   to hold it.
    init(
        path: String,
        durability: SQLiteDurability = .full,
        migrations: [String],
        vfs: String? = nil,
        flushLog: @escaping @Sendable (WriteAheadLog) throws -> Void = { try $0.flush() },
        checkpointLog: @escaping @Sendable (SQLiteConnection) -> Void = { _ = try? $0.checkpoint() }
    ) throws {
        let connection = try SQLiteConnection(path: path, vfs: vfs)
        // SQLite itself never flushes at a commit (`NORMAL`): with `full` durability the
        // flusher flushes the log after each commit, before its callers hear of it. That is
        // as durable as `FULL`, which flushes the same file inside the commit: with `NORMAL`
        // SQLite still flushes the log before a checkpoint copies it into the database file
        // (and that file after), and starts the log over only once all of it was copied,
        // flushing the new header first. So a commit is on disk once the log holding it was
        // flushed, by the flusher or by a checkpoint; a crash before that loses only commits
        // nobody was told of (the log's checksums end recovery at the last whole commit).
        try Self.retryingWhileBusy {
            try connection.executeScript(
                """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                PRAGMA foreign_keys = ON;
                """
            )
        }
        try Self.retryingWhileBusy { try Self.migrate(connection, migrations) }
        connection.takeOverCheckpoints()
        let checkpointConnection = try SQLiteConnection(path: path, vfs: vfs)
        try checkpointConnection.executeScript("PRAGMA synchronous = NORMAL;")
        let queue = JobQueue()
        let flusher: CommitFlusher?
        if durability == .full {
            let log = try WriteAheadLog(at: connection.writeAheadLogPath)
            try flushLog(log)  // the migrations' commits
            flusher = CommitFlusher(flush: { try flushLog(log) }, tookBatches: { queue.nudge() })
        } else {
            flusher = nil
        }
        let checkpointer = LogCheckpointer(connection: checkpointConnection, checkpoint: checkpointLog)
        self.queue = queue
        let worker = UncheckedSendableBox(connection)
        NamedThread(name: "kabar-sqlite").start {
            Self.serve(queue, worker.value, resumingThrough: flusher, checkpointer: checkpointer)
        }
    }

    /// Hands `body` to the worker thread; `completion` gets its result, on a thread of the
    /// database, once the transaction that contains it is committed (and durable, with
    /// ``SQLiteDurability/full``).
    ///
    /// Units run in the order they were submitted: a caller that submits several without
    /// waiting sees their effects in that order.
    ///
    /// - Parameter readsDeferredWork: false for a unit that reads nothing that earlier
    ///   units left for later (``SQLiteConnection/deferUntilRead(_:_:)``), so that it need
    ///   not run first: a batch of sends runs it once, at the end.
    /// - Parameter completion: gets whatever `body` threw (its changes are rolled back),
    ///   the commit's failure, or ``SQLiteError`` with `SQLITE_MISUSE` after ``close()``.
    func submit<T: Sendable>(
        changes: UnitChanges = .anyStatements,
        readsDeferredWork: Bool = true,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let job = DatabaseJob(changes: changes, readsDeferredWork: readsDeferredWork, body: body, completion: completion)
        if !queue.enqueue(job) { job.finish(commitError: SQLiteError.closed) }
    }

    /// Runs `body` in a transaction on the worker thread and returns once it is committed.
    ///
    /// - Throws: as ``submit(changes:_:completion:)`` reports.
    func write<T: Sendable>(
        changes: UnitChanges = .anyStatements,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(changes: changes, body) { continuation.resume(with: $0) }
        }
    }

    /// Lets the units already handed in finish, then closes the file.
    func close() async {
        await withCheckedContinuation { continuation in
            queue.close { continuation.resume() }
        }
    }

    // MARK: - Worker

    /// Resumes the callers of a batch, given how its transaction ended.
    private typealias Resume = (ArraySlice<DatabaseJob>, (any Error)?) -> Void
    /// Units to add to the open transaction before it commits (at most the given
    /// number); nil when it should commit now.
    private typealias MoreJobs = (Int) -> [DatabaseJob]?

    private static func serve(
        _ queue: JobQueue,
        _ connection: SQLiteConnection,
        resumingThrough flusher: CommitFlusher?,
        checkpointer: LogCheckpointer
    ) {
        let resume: Resume = { jobs, commitError in
            guard let flusher else { return jobs.forEach { $0.finish(commitError: commitError) } }
            flusher.resume(jobs, commitError: commitError)
        }
        // While the flusher is busy and the last commit is still waiting for it, a commit
        // now would only wait too: the transaction stays open and takes the units that
        // arrive, and commits as soon as the flusher takes the waiting one (so its own
        // commit still overlaps the flush before it). Under load this makes fewer, larger
        // commits, each writing the pages it changed to the log once; a lone unit, or one
        // arriving while the flusher is idle, commits at once.
        let more: MoreJobs = { room in
            guard let flusher else { return nil }
            return queue.moreJobs(maximum: room) { flusher.hasBatchWaiting }
        }
        while let batch = queue.nextBatch(maximum: maximumBatch) {
            if let failure = flusher?.failure {
                resume(batch[...], failure)  // not run: it could not be made durable
            } else {
                runBatch(batch[...], on: connection, more: more, then: resume)
                checkpointer.logGrew(on: connection)
            }
        }
        flusher?.finish()
        checkpointer.finish()
        connection.close()
        queue.workerFinished()
    }

    static let metrics = StoreMetrics(store: "sqlite")

    private static func runBatch(
        _ first: ArraySlice<DatabaseJob>,
        on connection: SQLiteConnection,
        more: MoreJobs,
        then resume: Resume
    ) {
        guard !first.isEmpty else { return }
        var batch = first
        let start = ContinuousClock.now
        connection.deferred.discard()
        do {
            try connection.beginImmediate()
        } catch {
            resume(batch, error)
            return
        }
        var index = batch.startIndex
        while true {
            if index == batch.endIndex {
                guard batch.count < maximumBatch, let extra = more(maximumBatch - batch.count) else { break }
                batch.append(contentsOf: extra)
            }
            let job = batch[index]
            if job.readsDeferredWork, !connection.deferred.isEmpty {
                do {
                    try connection.runDeferredStatements()
                } catch {
                    // What the units so far left failed: they fail with it, and the rest
                    // get a transaction of their own.
                    if connection.isInTransaction { _ = try? connection.execute("ROLLBACK") }
                    resume(batch[..<index], error)
                    runBatch(batch[index...], on: connection, more: more, then: resume)
                    return
                }
            }
            do {
                try runUnit(job, on: connection)
            } catch {
                job.fail(error)
            }
            guard connection.isInTransaction else {
                // The unit's error ended the whole transaction, as SQLite does after some
                // I/O errors (and the worker does after a unit broke its promise of a
                // single change): the units so far are rolled back, and the ones after it
                // have not run yet. They get a transaction of their own.
                resume(batch[...index], SQLiteError.rolledBackByAnotherUnit)
                runBatch(batch[(index + 1)...], on: connection, more: more, then: resume)
                return
            }
            index = batch.index(after: index)
        }
        do {
            try connection.runDeferredStatements()
            try connection.execute("COMMIT")
            metrics.committed(units: batch.count, in: ContinuousClock.now - start)
            resume(batch, nil)
        } catch {
            _ = try? connection.execute("ROLLBACK")
            resume(batch, error)
        }
    }

    /// Runs one unit inside the batch's transaction, all or nothing.
    private static func runUnit(_ job: DatabaseJob, on connection: SQLiteConnection) throws {
        let mark = connection.deferred.mark
        switch job.changes {
        case .anyStatements:
            try connection.execute("SAVEPOINT unit")
            if job.run(on: connection) {
                try connection.execute("RELEASE unit")
            } else {
                connection.deferred.takeBack(after: mark)
                try connection.execute("ROLLBACK TO unit")
                try connection.execute("RELEASE unit")
            }
        case .selfContained:
            let changesBefore = connection.totalChanges
            if !job.run(on: connection) {
                connection.deferred.takeBack(after: mark)
                // What it changed before it threw cannot be undone alone.
                if connection.totalChanges != changesBefore { try connection.execute("ROLLBACK") }
            }
        case .oneStatement:
            connection.limitToOneChange()
            if !job.run(on: connection) { connection.deferred.takeBack(after: mark) }
            if connection.endOneChangeLimit() == .refusedASecond {
                // Its first change cannot be undone alone: give up the whole transaction.
                try connection.execute("ROLLBACK")
            }
        }
    }

    /// Runs `body` again while SQLite answers `SQLITE_BUSY`, for up to about five seconds.
    ///
    /// The busy handler retries a lock that another connection holds, but when two
    /// connections that both read a new file both want to write it (switching it to WAL,
    /// or starting their migrations), SQLite refuses one of them at once rather than let
    /// both wait for each other. Starting over releases its read lock, so the other gets on.
    private static func retryingWhileBusy(_ body: () throws -> Void) throws {
        var attempts = 0
        while true {
            do {
                return try body()
            } catch let error as SQLiteError where error.code & 0xFF == 5 && attempts < 5_000 {  // SQLITE_BUSY
                attempts += 1
                usleep(1_000)
            }
        }
    }

    /// Brings the schema up to date in one transaction.
    ///
    /// Several processes may open a new file at the same moment (servers starting
    /// together, `kabar-server user add` while one starts). The version is read only after
    /// the write lock is held, so the second opener waits for the first one's migrations
    /// and then finds nothing left to do, instead of running them again.
    private static func migrate(_ connection: SQLiteConnection, _ migrations: [String]) throws {
        try connection.beginImmediate()
        do {
            let current = Int(try connection.query("PRAGMA user_version").first?.integer(0) ?? 0)
            guard current <= migrations.count else { throw SQLiteError.newerSchema(current) }
            if current < migrations.count {
                for migration in migrations[current...] { try connection.executeScript(migration) }
                try connection.executeScript("PRAGMA user_version = \(migrations.count)")
            }
            try connection.execute("COMMIT")
        } catch {
            if connection.isInTransaction { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
    }
}

extension SQLiteError {
    static let closed = SQLiteError(code: 21, message: "the database is closed")  // SQLITE_MISUSE
    static let rolledBackByAnotherUnit = SQLiteError(  // SQLITE_ABORT
        code: 4,
        message: "rolled back: another unit of work in the same transaction failed and ended it"
    )

    static let secondChange = SQLiteError(  // SQLITE_MISUSE
        code: 21,
        message: "a unit of work declared to change the database with one statement ran a second one"
    )

    static func newerSchema(_ version: Int) -> SQLiteError {
        SQLiteError(code: 1, message: "the database has schema version \(version), newer than this program knows")
    }
}

/// Moves a value that is used by one thread at a time across the thread boundary.
///
/// `@unchecked Sendable`: it carries an SQLite connection to the thread that uses it (the
/// worker, the checkpointer). The opening thread stops using the connection before
/// `Thread.start()`, which orders its last use before the thread's first; from then on
/// only that thread uses it.
struct UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

// MARK: - UnitChanges

/// How many statements that change the database a unit of work runs, which decides
/// whether it needs a savepoint of its own to be all or nothing.
enum UnitChanges: Sendable {
    /// One at most, and the unit throws only before that statement or from it. SQLite
    /// undoes a failed statement by itself, so the unit runs without a savepoint (whose
    /// page copies cost a `send` about a tenth of the store thread's time). A second
    /// changing statement is refused with ``SQLiteError/secondChange`` and rolls back the
    /// whole transaction, so that its first change is not committed alone.
    case oneStatement
    /// Any number: the unit runs in a savepoint, rolled back if it throws.
    case anyStatements
    /// Any number, each of them all or nothing by itself (a single statement, or a
    /// savepoint of the unit's own), and the unit decides itself which to keep: a burst of
    /// sends, where each message stands or fails alone. It runs without a savepoint for the
    /// whole unit (whose page copies it would pay for nothing). It should not throw once it
    /// changed something; if it does, the whole transaction is rolled back, as after a
    /// refused second change, so that no part of the unit is committed.
    case selfContained
}

// MARK: - SQLiteDurability

/// How hard SQLite works to make a commit survive a crash.
public enum SQLiteDurability: String, Sendable, CaseIterable {
    /// The log is flushed after every commit, before its callers hear of it: a commit
    /// reported survives power loss.
    case full
    /// The log is flushed at checkpoints only (`synchronous=NORMAL` in WAL mode): a commit
    /// survives a crash of the server process, not of the machine.
    case normal
}
