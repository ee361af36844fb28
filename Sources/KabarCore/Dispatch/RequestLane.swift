// MARK: - RequestLane

/// Keeps one connection's requests taking effect in the order they were sent, whatever
/// order the store would run them in.
///
/// A connection may hand in its next request before the last one's store work is done
/// (pipelining). A store that runs operations in the order they are called (one worker
/// thread, as SQLite's) keeps them in order by itself, and the lane starts each piece of
/// work at once, so that a connection's pipelined sends share a commit. A store that runs
/// them concurrently (a pool of database connections) would not: there the lane starts a
/// connection's next piece of work only when the previous one has finished, on the thread
/// that finished it.
public final class RequestLane: Sendable {
    private struct State {
        var isRunning = false
        var queued: [@Sendable () -> Void] = []
        var idleWaiters: [@Sendable () -> Void] = []
    }

    let runsInCallOrder: Bool
    private let state = Locked(State())

    /// - Parameter runsInCallOrder: whether the store already runs operations in call order.
    public init(runsInCallOrder: Bool) {
        self.runsInCallOrder = runsInCallOrder
    }

    /// Runs `work` after the work started before it, at once if it may. `work` must call
    /// its argument exactly once, when its effect is committed.
    func start(_ work: @escaping @Sendable (_ finished: @escaping @Sendable () -> Void) -> Void) {
        guard !runsInCallOrder else { return work({}) }
        let runNow = state.withLock { state -> Bool in
            if state.isRunning {
                state.queued.append { work { self.finished() } }
                return false
            }
            state.isRunning = true
            return true
        }
        if runNow { work { self.finished() } }
    }

    /// Returns once the work started before the call has finished.
    func idle() async {
        guard !runsInCallOrder else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isIdle = state.withLock { state -> Bool in
                guard state.isRunning else { return true }
                state.idleWaiters.append { continuation.resume() }
                return false
            }
            if isIdle { continuation.resume() }
        }
    }

    private func finished() {
        let (next, waiters) = state.withLock { state -> ((@Sendable () -> Void)?, [@Sendable () -> Void]) in
            if !state.queued.isEmpty { return (state.queued.removeFirst(), []) }
            state.isRunning = false
            defer { state.idleWaiters = [] }
            return (nil, state.idleWaiters)
        }
        next?()
        waiters.forEach { $0() }
    }
}
