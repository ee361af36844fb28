import KabarCore
import NIOCore

// MARK: - ConnectionRegistry

/// The server's open connections, so that graceful shutdown can reach them all and wait
/// for the last one to close.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var isQuiescing = false
        var whenEmpty: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    /// Tracks `channel` until it closes. - Returns: false once shutdown has begun: the
    /// caller closes the channel instead.
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { state in
            guard !state.isQuiescing else { return false }
            state.channels[id] = channel
            return true
        }
        guard accepted else {
            ServerMetrics.connectionRefused(.shuttingDown)
            return false
        }
        ServerMetrics.connectionOpened()
        channel.closeFuture.whenComplete { _ in
            ServerMetrics.connectionClosed()
            self.remove(id)
        }
        return true
    }

    /// Refuses connections from now on and hands every open one to `quiesce`, which asks
    /// it to stop reading and close after its last reply.
    func quiesceAll(_ quiesce: (any Channel) -> Void) {
        let channels = state.withLock { state in
            state.isQuiescing = true
            return Array(state.channels.values)
        }
        channels.forEach(quiesce)
    }

    /// Closes every open connection now.
    func closeAll() {
        let channels = state.withLock { state in
            state.isQuiescing = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Returns once no connection is open.
    func waitUntilEmpty() async {
        await withCheckedContinuation { continuation in
            let isEmpty = state.withLock { state in
                if state.channels.isEmpty { return true }
                state.whenEmpty.append(continuation)
                return false
            }
            if isEmpty { continuation.resume() }
        }
    }

    private func remove(_ id: ObjectIdentifier) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.channels[id] = nil
            guard state.channels.isEmpty else { return [] }
            defer { state.whenEmpty = [] }
            return state.whenEmpty
        }
        waiters.forEach { $0.resume() }
    }
}
