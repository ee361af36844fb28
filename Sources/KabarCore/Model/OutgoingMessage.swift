// MARK: - OutgoingMessage

/// A message about to be stored: one `send` of a burst handed to the store together
/// (``ChatStore/deliver(_:at:completion:)``).
///
/// A class, and immutable: built once on the connection's thread, it is handed through the
/// store's loops, where each copy of a struct of four strings and a list was a retain and a
/// release of each (about 5% of the store thread's CPU at `send` P16); a reference is one.
public final class OutgoingMessage: Sendable {
    public let text: String
    public let sender: UserRecord
    /// Distinct, in the order the sender named them.
    public let recipients: [Username]
    /// The connection it was sent on, for a store whose ``CommitFeed`` publishes it.
    public let origin: Presence.ConnectionID?

    public init(text: String, sender: UserRecord, recipients: [Username], origin: Presence.ConnectionID?) {
        self.text = text
        self.sender = sender
        self.recipients = recipients
        self.origin = origin
    }
}
