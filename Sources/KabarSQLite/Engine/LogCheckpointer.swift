import Foundation
import KabarCore

// MARK: - LogCheckpointer

/// Copies the write-ahead log back into the database file on a thread and a connection of
/// its own, so that the database's worker goes on committing meanwhile.
///
/// SQLite's automatic checkpoint runs inside the commit that grew the log past 1,000
/// frames, on the worker: under load about a seventh of the worker's time, most of it the
/// kernel copying pages into the database file. Here the worker asks for a checkpoint each
/// time the log has grown by ``framesPerCheckpoint`` (``logGrew(on:)``), and this thread
/// runs a passive one, which waits for nobody and copies what no reader still needs.
///
/// A passive checkpoint beside a writer that keeps committing rarely catches up with the
/// log's end, and SQLite starts the log over only once a checkpoint has copied all of it
/// (at the start of the next write transaction). So once the log holds ``mostFrames``,
/// the worker checkpoints itself, between two transactions, which copies the little the
/// last passes left and lets the log start over: the log stays within about
/// ``mostFrames`` frames, and the worker copies about a quarter of what it used to.
///
/// `@unchecked Sendable`: its mutable state (`isRequested`, `isClosed`) is read and
/// written only with `condition` held, except `nextRequestAt`, which only the worker
/// thread uses; the connection is used by its thread only. Exercised by every store test
/// that writes enough, by the log-checkpoint tests and the power-cut tests, under the
/// thread sanitizer in CI.
final class LogCheckpointer: @unchecked Sendable {
    /// The log's growth, in frames, that asks for a checkpoint: SQLite's own default.
    static let framesPerCheckpoint = 1_000
    /// The log's length, in frames, from which the worker checkpoints itself.
    static let mostFrames = 4 * framesPerCheckpoint

    private let condition = NSCondition()
    private var isRequested = false
    private var isClosed = false
    private let thread = NamedThread(name: "kabar-checkpt")
    /// Worker only: the log's length at which the next checkpoint is asked for.
    private var nextRequestAt = framesPerCheckpoint

    /// Starts the thread.
    ///
    /// - Parameter connection: its own connection to the database, handed over: only the
    ///   thread uses it from now on, and closes it at ``finish()``.
    /// - Parameter checkpoint: runs one checkpoint on that connection (tests wrap it).
    init(connection: SQLiteConnection, checkpoint: @escaping @Sendable (SQLiteConnection) -> Void) {
        let box = UncheckedSendableBox(connection)
        thread.start { [self] in
            while nextRequest() { checkpoint(box.value) }
            box.value.close()
        }
    }

    /// Called by the worker after each commit of its connection (`worker`, whose
    /// checkpoints this took over): asks for a checkpoint each time the log has grown by
    /// ``framesPerCheckpoint``, and checkpoints on the worker once it holds ``mostFrames``.
    func logGrew(on worker: SQLiteConnection) {
        let frames = worker.framesInLog
        if frames < nextRequestAt - Self.framesPerCheckpoint {
            nextRequestAt = Self.framesPerCheckpoint  // the log started over
        }
        if frames >= Self.mostFrames {
            // Busy: this thread is checkpointing; the worker tries again after its next commit.
            _ = try? worker.checkpoint()
        } else if frames >= nextRequestAt {
            nextRequestAt = frames + Self.framesPerCheckpoint
            condition.withLock { isRequested = true }
            condition.signal()
        }
    }

    /// Ends the thread once a checkpoint it runs has ended, and closes its connection.
    func finish() {
        condition.withLock { isClosed = true }
        condition.signal()
        thread.waitUntilEnded()
    }

    /// Waits for a request; false once finished.
    private func nextRequest() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !isRequested && !isClosed { condition.wait() }
        isRequested = false
        return !isClosed
    }
}
