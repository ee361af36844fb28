// MARK: - Reply

/// One reply, as PROTOCOL.md's "Compatible core" and "Extensions" define them.
public enum Reply: Hashable, Sendable {
    /// `auth` succeeded: `{"status": "OK", "tokenid": "TOKEN"}`.
    case loggedIn(SessionToken)
    /// `send` succeeded: `{"status": "OK", "message": "Message Sent"}`.
    case messageSent
    /// `inbox`: `{"status": "OK", "messages": {SENDER: [MSG, ...], ...}}`.
    case inbox([InboxGroup])
    /// `show`: `{"status": "OK", "message": [{"username": U, "name": N, "negara": C}, ...]}`.
    case onlineUsers([OnlineUser])
    /// `logout`: `{"status": "OK", "message": "TOKEN"}`.
    case loggedOut(SessionToken)
    /// `register`: `{"status": "OK", "message": "User Registered"}`.
    case registered
    /// `ping`: `{"status": "OK", "message": "PONG"}`.
    case pong
    /// Any refusal: `{"status": "ERROR", "message": "TEXT"}`.
    case refused(Refusal)
    /// `subscribe`: `{"status": "OK", "message": "Subscribed", "unread": N}`. The N
    /// unread messages follow it as `message` events.
    case subscribed(unread: Int)
    /// `unsubscribe`: `{"status": "OK", "message": "Unsubscribed"}`.
    case unsubscribed
    /// `ack`: `{"status": "OK", "acked": N}`.
    case acked(Int)
    /// `history`: `{"status": "OK", "with": USERNAME, "messages": [MESSAGE + "read", ...]}`,
    /// oldest first.
    case history(with: String, entries: [HistoryEntry])
    /// `conversations`: `{"status": "OK", "conversations": [{"username": …, "unread": N, "last": MESSAGE}, ...]}`,
    /// the most recent first.
    case conversations([ConversationSummary])
}

/// The unread messages from one sender, in the order the server received them.
public struct InboxGroup: Hashable, Sendable {
    /// The sender's username: the group's key in the `messages` object.
    public var sender: String
    public var messages: [InboxMessage]

    public init(sender: String, messages: [InboxMessage]) {
        self.sender = sender
        self.messages = messages
    }
}

/// One `MSG` object: full names of both ends, and the text.
public struct InboxMessage: Hashable, Sendable {
    public var fromName: String
    public var toName: String
    public var text: String

    public init(fromName: String, toName: String, text: String) {
        self.fromName = fromName
        self.toName = toName
        self.text = text
    }
}

/// One row of `show`.
public struct OnlineUser: Hashable, Sendable {
    public var username: String
    public var name: String
    public var country: String

    public init(username: String, name: String, country: String) {
        self.username = username
        self.name = name
        self.country = country
    }
}
