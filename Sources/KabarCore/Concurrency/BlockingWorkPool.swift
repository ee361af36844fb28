#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

// MARK: - BlockingWorkPool

/// A few threads of its own for work that holds a CPU for milliseconds (scrypt), so that
/// such work never runs on an event loop or on Swift's cooperative pool, where it would
/// stall every other connection or task.
///
/// The threads start with the pool and end once the pool is released and the work handed
/// in before has run.
public final class BlockingWorkPool: Sendable {
    private let queue = WorkQueue()

    /// - Parameter threadCount: how many pieces of work may run at once (at least one).
    public init(threadCount: Int) {
        for index in 0..<max(1, threadCount) {
            let queue = self.queue
            NamedThread(name: "kabar-work-\(index)").start { queue.runUntilClosed() }
        }
    }

    deinit {
        queue.close()
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.enqueue { continuation.resume(with: Result(catching: work)) }
        }
    }
}

/// The pool's queue: its threads wait on it for work.
///
/// `@unchecked Sendable`: `pending` and `isClosed` are touched only with `condition` held.
private final class WorkQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [@Sendable () -> Void] = []
    private var isClosed = false

    func enqueue(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        pending.append(work)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        condition.unlock()
    }

    /// A thread's whole life: takes work until the queue is closed and empty.
    func runUntilClosed() {
        while let work = next() { work() }
    }

    private func next() -> (@Sendable () -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !isClosed { condition.wait() }
        return pending.isEmpty ? nil : pending.removeFirst()
    }
}
