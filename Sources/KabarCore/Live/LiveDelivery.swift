import KabarProtocol

// MARK: - LiveDelivery

/// Who is subscribed, and the fan-out of committed messages and presence changes to them
/// (PROTOCOL.md, "Live delivery, history and conversations").
///
/// It does not assume it sees every write itself: it is told what was committed
/// (``publish(_:sentFrom:)``), in commit order, by whoever learns of it — the chat service
/// after its own durable commits today, a listener on a shared database's notifications
/// when several nodes write. It never waits: each sink hands its events to its own
/// connection's thread.
public final class LiveDelivery: Sendable {
    public typealias ConnectionID = Presence.ConnectionID

    private struct Subscription {
        var sink: any LiveEventSink
        var username: String
        var sessionID: Int64
        var wantsPresence: Bool
    }

    private struct State {
        var byConnection: [ConnectionID: Subscription] = [:]
        /// The subscribed connections of each username.
        var byUsername: [String: Set<ConnectionID>] = [:]
        var presenceWatchers: Set<ConnectionID> = []
    }

    private let state = Locked(State())

    public init() {}

    /// Subscribes `connection` for `session`'s user, replacing its earlier subscription.
    /// From now on the sink gets every published event for that user.
    public func subscribe(_ connection: ConnectionID, session: SessionRecord, presence: Bool, sink: any LiveEventSink) {
        state.withLock { state in
            Self.remove(connection, from: &state)
            let username = session.user.username.text
            state.byConnection[connection] = Subscription(sink: sink, username: username, sessionID: session.id, wantsPresence: presence)
            state.byUsername[username, default: []].insert(connection)
            if presence { state.presenceWatchers.insert(connection) }
        }
    }

    /// Whether any connection is subscribed. While none is, a publish finds nobody to tell,
    /// so a caller that would gather messages only to publish them may skip that; a
    /// connection that subscribes later reads them from the store (its replay).
    public var hasSubscribers: Bool {
        state.withLock { !$0.byConnection.isEmpty }
    }

    /// Ends `connection`'s subscription, if it has one.
    public func unsubscribe(_ connection: ConnectionID) {
        state.withLock { state in Self.remove(connection, from: &state) }
    }

    /// Ends every subscription of the sessions `sessionIDs` (logged out): their sinks are
    /// told before this returns.
    public func endSessions(_ sessionIDs: Set<Int64>) {
        guard !sessionIDs.isEmpty else { return }
        let ended = state.withLock { state in
            let connections = state.byConnection.filter { sessionIDs.contains($0.value.sessionID) }
            for connection in connections.keys { Self.remove(connection, from: &state) }
            return connections.values.map(\.sink)
        }
        for sink in ended { sink.end() }
    }

    /// Hands committed messages to their recipients' subscriptions (`message` events) and
    /// to the sender's other subscribed connections (`sent` events), each sink's events in
    /// the order of `messages`.
    ///
    /// - Parameter sentFrom: the connection the messages were sent on, which gets no `sent`
    ///   event; nil when they came from elsewhere.
    public func publish(_ messages: [ChatMessage], sentFrom connection: ConnectionID?) {
        guard !messages.isEmpty else { return }
        let deliveries = state.withLock { state -> [(any LiveEventSink, [LiveEvent])] in
            var deliveries = Deliveries()
            for message in messages {
                for subscriber in state.byUsername[message.to] ?? [] {
                    if let subscription = state.byConnection[subscriber] { deliveries.add(.message(message), to: subscription.sink) }
                }
                for subscriber in state.byUsername[message.from] ?? [] where subscriber != connection {
                    if let subscription = state.byConnection[subscriber] { deliveries.add(.sent(message), to: subscription.sink) }
                }
            }
            return deliveries.all
        }
        for (sink, events) in deliveries { sink.push(events) }
    }

    /// Tells the subscriptions that asked for presence that users came online or went
    /// offline.
    public func publish(_ changes: [PresenceChange]) {
        guard !changes.isEmpty else { return }
        let events = changes.map { change in
            LiveEvent.presence(
                OnlineUser(username: change.user.username.text, name: change.user.profile.name, country: change.user.profile.country),
                isOnline: change.isOnline
            )
        }
        let sinks = state.withLock { state in state.presenceWatchers.compactMap { state.byConnection[$0]?.sink } }
        for sink in sinks { sink.push(events) }
    }

    private static func remove(_ connection: ConnectionID, from state: inout State) {
        guard let subscription = state.byConnection.removeValue(forKey: connection) else { return }
        state.byUsername[subscription.username]?.remove(connection)
        if state.byUsername[subscription.username]?.isEmpty == true { state.byUsername[subscription.username] = nil }
        state.presenceWatchers.remove(connection)
    }
}

/// Events grouped by sink, sinks in the order they first got one.
private struct Deliveries {
    private var order: [ObjectIdentifier] = []
    private var bySink: [ObjectIdentifier: (any LiveEventSink, [LiveEvent])] = [:]

    mutating func add(_ event: LiveEvent, to sink: any LiveEventSink) {
        let key = ObjectIdentifier(sink)
        if bySink[key] == nil {
            order.append(key)
            bySink[key] = (sink, [event])
        } else {
            bySink[key]?.1.append(event)
        }
    }

    var all: [(any LiveEventSink, [LiveEvent])] { order.compactMap { bySink[$0] } }
}
