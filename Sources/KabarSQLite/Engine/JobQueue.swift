import Foundation

// MARK: - JobQueue

/// The hand-off between callers and the database's worker thread.
///
/// `@unchecked Sendable`: its mutable state is read and written only with `condition`
/// held. Every store test hands jobs in from many tasks while the worker takes them
/// (the racing-readers and concurrency tests most of all), under the thread sanitizer in CI.
///
/// Like the flusher and the checkpointer, it wakes a waiting thread only after releasing
/// the lock: a thread woken while the lock is still held runs only to wait for the lock,
/// and is woken a second time when it is released.
final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [DatabaseJob] = []
    private var isClosed = false
    private var onWorkerFinished: [@Sendable () -> Void] = []
    private var workerHasFinished = false
    /// The worker waits in ``moreJobs(maximum:while:)``: its transaction is open until the
    /// flusher takes the commit before it, and the ``nudge()`` wakes it then.
    private var isWorkerWaitingForFlusher = false
    /// How many jobs wake a worker that waits for the flusher before the nudge does.
    static let jobsWorthAWakeUp = 16

    /// Adds a job. - Returns: false once the queue is closed.
    ///
    /// An idle worker is woken at once: a lone job never waits. One that waits for the
    /// flusher is not woken for each job: a wake-up costs the caller a system call and the
    /// worker a trip through the scheduler, more than the job itself, and the nudge brings
    /// the jobs into the transaction before it commits anyway. It is woken when
    /// ``jobsWorthAWakeUp`` wait, so that a long flush does not leave them all to the end.
    func enqueue(_ job: DatabaseJob) -> Bool {
        let (added, wake) = condition.withLock {
            guard !isClosed else { return (false, false) }
            pending.append(job)
            return (true, !isWorkerWaitingForFlusher || pending.count >= Self.jobsWorthAWakeUp)
        }
        if wake { condition.signal() }
        return added
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
    /// once it no longer holds (checked again on ``nudge()``) or the queue is closed.
    ///
    /// The jobs waiting when it is called are returned at once. After that it waits for
    /// ``jobsWorthAWakeUp`` jobs, or for `keepWaiting()` to end: then it returns the jobs
    /// that came meanwhile, once (the call after that finds `keepWaiting()` false and
    /// returns nil, so the transaction commits).
    func moreJobs(maximum: Int, while keepWaiting: () -> Bool) -> [DatabaseJob]? {
        condition.lock()
        defer { condition.unlock() }
        var hasWaited = false
        while keepWaiting() {
            if !pending.isEmpty, !hasWaited || isClosed || pending.count >= Self.jobsWorthAWakeUp {
                return takeJobs(upTo: maximum)
            }
            guard !isClosed else { return nil }
            isWorkerWaitingForFlusher = true
            condition.wait()
            isWorkerWaitingForFlusher = false
            hasWaited = true
        }
        return hasWaited && !pending.isEmpty ? takeJobs(upTo: maximum) : nil
    }

    /// The oldest `maximum` waiting jobs, taken off the queue; `condition` must be held.
    private func takeJobs(upTo maximum: Int) -> [DatabaseJob] {
        let jobs = Array(pending.prefix(maximum))
        pending.removeFirst(jobs.count)
        return jobs
    }

    /// Wakes a worker waiting in ``moreJobs(maximum:while:)`` to check its condition again.
    func nudge() {
        // What the worker waits on is the flusher's state, changed under the flusher's lock,
        // not this one. Taking this lock once waits until a worker that saw the old state is
        // inside `wait()` (a worker that looks later sees the new one), so the broadcast
        // after it cannot be missed.
        condition.withLock {}
        condition.broadcast()
    }

    /// Refuses new jobs; `completion` runs when the worker has drained the rest.
    func close(completion: @escaping @Sendable () -> Void) {
        let finished = condition.withLock {
            isClosed = true
            if !workerHasFinished { onWorkerFinished.append(completion) }
            return workerHasFinished
        }
        condition.broadcast()
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
