import Foundation

// MARK: - JobQueue

/// The hand-off between callers and the database's worker thread.
///
/// `@unchecked Sendable`: its mutable state is read and written only with `condition`
/// held. Every store test hands jobs in from many tasks while the worker takes them
/// (the racing-readers and concurrency tests most of all), under the thread sanitizer in CI.
final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [DatabaseJob] = []
    private var isClosed = false
    private var onWorkerFinished: [@Sendable () -> Void] = []
    private var workerHasFinished = false

    /// Adds a job. - Returns: false once the queue is closed.
    func enqueue(_ job: DatabaseJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isClosed else { return false }
        pending.append(job)
        condition.signal()
        return true
    }

    /// Waits for work; returns up to `maximum` jobs, or nil once closed and drained.
    func nextBatch(maximum: Int) -> [DatabaseJob]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !isClosed { condition.wait() }
        guard !pending.isEmpty else { return nil }
        return takeJobs(upTo: maximum)
    }

    /// While `keepWaiting()` holds, waits for work and returns up to `maximum` jobs; nil
    /// as soon as it no longer holds (checked again on ``nudge()``) or the queue is closed.
    func moreJobs(maximum: Int, while keepWaiting: () -> Bool) -> [DatabaseJob]? {
        condition.lock()
        defer { condition.unlock() }
        while keepWaiting() {
            if !pending.isEmpty { return takeJobs(upTo: maximum) }
            guard !isClosed else { return nil }
            condition.wait()
        }
        return nil
    }

    /// The oldest `maximum` waiting jobs, taken off the queue; `condition` must be held.
    private func takeJobs(upTo maximum: Int) -> [DatabaseJob] {
        let jobs = Array(pending.prefix(maximum))
        pending.removeFirst(jobs.count)
        return jobs
    }

    /// Wakes a worker waiting in ``moreJobs(maximum:while:)`` to check its condition again.
    func nudge() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Refuses new jobs; `completion` runs when the worker has drained the rest.
    func close(completion: @escaping @Sendable () -> Void) {
        condition.lock()
        isClosed = true
        let finished = workerHasFinished
        if !finished { onWorkerFinished.append(completion) }
        condition.broadcast()
        condition.unlock()
        if finished { completion() }
    }

    /// Called by the worker after its last batch.
    func workerFinished() {
        condition.lock()
        workerHasFinished = true
        let completions = onWorkerFinished
        onWorkerFinished = []
        condition.unlock()
        completions.forEach { $0() }
    }
}
