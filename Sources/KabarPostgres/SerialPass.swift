import KabarCore

// MARK: - SerialPass

/// Runs an async pass one at a time: a trigger while it runs makes it run once more after,
/// however many triggers came, so that nothing that happened before a trigger is missed and
/// passes never overlap. Once closed, it runs no more passes.
final class SerialPass: Sendable {
    private struct State {
        var isRunning = false
        var isRequested = false
        var isClosed = false
        /// Those waiting in ``close()`` for the running pass to end.
        var closers: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    /// Runs `pass` now; while a pass runs, runs that one once more after it instead (every
    /// trigger of one `SerialPass` brings the same work). Nothing once closed.
    func trigger(_ pass: @escaping @Sendable () async -> Void) {
        let starts = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.isRequested = true
            guard !state.isRunning else { return false }
            state.isRunning = true
            return true
        }
        guard starts else { return }
        Task {
            while true {
                let closers = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
                    guard state.isRequested, !state.isClosed else {
                        state.isRunning = false
                        defer { state.closers = [] }
                        return state.closers
                    }
                    state.isRequested = false
                    return nil
                }
                if let closers {
                    for closer in closers { closer.resume() }
                    return
                }
                await pass()
            }
        }
    }

    /// Runs no more passes, and returns once the pass running now, if any, has ended.
    func close() async {
        await withCheckedContinuation { continuation in
            let endsNow = state.withLock { state -> Bool in
                state.isClosed = true
                guard state.isRunning else { return true }
                state.closers.append(continuation)
                return false
            }
            if endsNow { continuation.resume() }
        }
    }
}
