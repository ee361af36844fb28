// MARK: - OutgoingMessage

/// A message about to be stored: one `send` of a burst handed to the store together
/// (``ChatStore/deliver(_:at:completion:)``).
public struct OutgoingMessage: Sendable {
    public var text: String
    public var sender: UserRecord
    /// Distinct, in the order the sender named them.
    public var recipients: [Username]
    /// The connection it was sent on, for a store whose ``CommitFeed`` publishes it.
    public var origin: Presence.ConnectionID?

    public init(text: String, sender: UserRecord, recipients: [Username], origin: Presence.ConnectionID?) {
        self.text = text
        self.sender = sender
        self.recipients = recipients
        self.origin = origin
    }
}
