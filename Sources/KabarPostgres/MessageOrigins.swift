import KabarCore

// MARK: - MessageOrigins

/// The connection each of this node's recent messages was sent on, from its commit until
/// the node's feed publishes it (the sender's own connection gets no `sent` event).
final class MessageOrigins: Sendable {
    private let origins = Locked<[Int64: Presence.ConnectionID]>([:])

    /// Called before the messages' commit, so that the feed, which reads them after it,
    /// always finds their origins.
    func record(_ sentOn: [Int64: Presence.ConnectionID]) {
        guard !sentOn.isEmpty else { return }
        origins.withLock { $0.merge(sentOn) { $1 } }
    }

    /// The origin of message `id`, forgotten; and every origin at or below `id` with it
    /// (messages whose commit failed never come).
    func take(_ id: Int64) -> Presence.ConnectionID? {
        origins.withLock { origins in
            let origin = origins.removeValue(forKey: id)
            if origins.count > 4_096 { origins = origins.filter { $0.key > id } }
            return origin
        }
    }
}
