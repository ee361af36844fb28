import Foundation
import KabarCore

// MARK: - CommitFlusher

/// Makes committed batches durable on a thread of its own, and only then resumes their
/// callers, so that the database's worker runs the next batch while the disk flushes this one:
///
///     worker:   run batch 1, COMMIT │ run batch 2, COMMIT │ run batch 3, COMMIT
///     flusher:                      │ flush log → resume 1 │ flush log → resume 2 …
///
/// A caller is resumed only by a flush that started after its batch committed, so its
/// reply never reports a change (its own, or one it read) that a power loss could undo.
/// Batches waiting together share one flush. Callers are resumed in the order their
/// batches were handed in.
///
/// A failed flush leaves it unknown which commits reached the disk, and a later flush that
/// succeeds would not say either (the kernel may have dropped the pages it could not
/// write). So from then on every unit fails with the flush's error, until the server is
/// restarted and SQLite recovers the database from what the log really holds.
///
/// `@unchecked Sendable`: its mutable state (`waiting`, `isClosed`, `flushFailure`) is
/// read and written only with `condition` held. Exercised concurrently
/// by every durable-commit, crash and power-cut test (callers' threads hand batches in
/// while the flusher thread drains them), under the thread sanitizer in CI.
final class CommitFlusher: @unchecked Sendable {
    /// One batch's units and how its transaction ended.
    private struct Batch {
        let jobs: ArraySlice<DatabaseJob>
        let commitError: (any Error)?
    }

    private let condition = NSCondition()
    private var waiting: [Batch] = []
    private var isClosed = false
    private let thread = NamedThread(name: "kabar-flush")
    private var flushFailure: (any Error)?

    /// - Parameter flush: makes everything committed so far durable (the log's
    ///   ``WriteAheadLog/flush()``; tests wrap it).
    /// - Parameter tookBatches: called (without its lock held) each time it takes the
    ///   waiting batches for a flush.
    init(flush: @escaping @Sendable () throws -> Void, tookBatches: @escaping @Sendable () -> Void) {
        thread.start { [self] in serve(flush, tookBatches: tookBatches) }
    }

    /// Whether a committed batch waits for a flush: the flusher is still flushing an
    /// earlier one. Meanwhile the worker keeps its next transaction open and adds units
    /// to it, rather than commit small ones that would all wait for the same flush.
    var hasBatchWaiting: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !waiting.isEmpty
    }

    /// The error every unit fails with since a flush failed; nil while all is well.
    var failure: (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        return flushFailure
    }

    /// Resumes the batch's callers once its commit is durable (at once if it failed).
    func resume(_ jobs: ArraySlice<DatabaseJob>, commitError: (any Error)?) {
        condition.withLock { waiting.append(Batch(jobs: jobs, commitError: commitError)) }
        condition.signal()
    }

    /// Returns once every batch handed in has been resumed, and ends the thread.
    func finish() {
        condition.withLock { isClosed = true }
        condition.signal()
        thread.waitUntilEnded()
    }

    // MARK: - Thread

    private func serve(_ flush: @Sendable () throws -> Void, tookBatches: @Sendable () -> Void) {
        while let batches = nextBatches() {
            tookBatches()
            var error = failure
            if error == nil, batches.contains(where: { $0.commitError == nil }) {
                do {
                    let start = ContinuousClock.now
                    try flush()
                    SQLiteDatabase.metrics.flushed(in: ContinuousClock.now - start)
                } catch let flushError {
                    error = flushError
                    condition.lock()
                    flushFailure = flushError
                    condition.unlock()
                }
            }
            for batch in batches {
                batch.jobs.forEach { $0.finish(commitError: error ?? batch.commitError) }
            }
        }
    }

    /// Waits for batches; returns all that wait, or nil once finished and drained.
    private func nextBatches() -> [Batch]? {
        condition.lock()
        defer { condition.unlock() }
        while waiting.isEmpty && !isClosed { condition.wait() }
        guard !waiting.isEmpty else { return nil }
        defer { waiting.removeAll(keepingCapacity: true) }
        return waiting
    }
}
