// MARK: - StoredMessage

/// A message as the store returns it to its recipient.
public struct StoredMessage: Hashable, Sendable {
    /// The store's id; ids grow in the order the server received the messages.
    public var id: Int64
    public var senderUsername: String
    /// The sender's full name when the message was sent.
    public var senderName: String
    public var recipientName: String
    public var text: String

    public init(id: Int64, senderUsername: String, senderName: String, recipientName: String, text: String) {
        self.id = id
        self.senderUsername = senderUsername
        self.senderName = senderName
        self.recipientName = recipientName
        self.text = text
    }
}
