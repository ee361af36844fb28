import KabarProtocol

// MARK: - LiveEventSink

/// Where one subscription's events go: implemented by each front end for its connection
/// (a TCP connection today). Every method may be called on any thread and must not block:
/// it hands its arguments to the connection's own thread, in the order of the calls.
public protocol LiveEventSink: AnyObject, Sendable {
    /// The subscription's replay: the messages unread when it began, oldest first, and
    /// the highest message id committed by then. A later `message` event with an id at or
    /// below it is a message the replay holds or that was read already, and is dropped.
    func begin(replay: UnreadSnapshot)
    /// Events, in the order they are to be written.
    func push(_ events: [LiveEvent])
    /// The subscription ended elsewhere (its session was logged out): no event of it may
    /// be written from the moment this returns.
    func end()
}
