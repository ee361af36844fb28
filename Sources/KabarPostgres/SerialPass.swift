import KabarCore

// MARK: - SerialPass

/// Runs an async pass one at a time: a trigger while it runs makes it run once more after,
/// however many triggers came, so that nothing that happened before a trigger is missed and
/// passes never overlap.
final class SerialPass: Sendable {
    private struct State {
        var isRunning = false
        var isRequested = false
    }

    private let state = Locked(State())

    /// Runs `pass` now, or once more after the pass running now.
    func trigger(_ pass: @escaping @Sendable () async -> Void) {
        let starts = state.withLock { state -> Bool in
            state.isRequested = true
            guard !state.isRunning else { return false }
            state.isRunning = true
            return true
        }
        guard starts else { return }
        Task {
            while state.withLock({ state -> Bool in
                guard state.isRequested else {
                    state.isRunning = false
                    return false
                }
                state.isRequested = false
                return true
            }) {
                await pass()
            }
        }
    }
}
