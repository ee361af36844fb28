// MARK: - HistoryEntry

/// One message of `history`: the message and whether its recipient has read it.
public struct HistoryEntry: Hashable, Sendable {
    public var message: ChatMessage
    public var isRead: Bool

    public init(message: ChatMessage, isRead: Bool) {
        self.message = message
        self.isRead = isRead
    }
}

// MARK: - ConversationSummary

/// One entry of `conversations`: a peer, the unread messages from them, and the latest
/// message either way.
public struct ConversationSummary: Hashable, Sendable {
    public var peer: OnlineUser
    /// Unread messages to the asking user from this peer.
    public var unread: Int
    public var last: ChatMessage

    public init(peer: OnlineUser, unread: Int, last: ChatMessage) {
        self.peer = peer
        self.unread = unread
        self.last = last
    }
}
