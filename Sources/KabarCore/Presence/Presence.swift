
// MARK: - Presence

/// Who is online: which connections are bound to which sessions.
///
/// PROTOCOL.md, `show`: a user is online while at least one open connection is bound to
/// one of their live sessions; users are listed once each, in the order they came
/// online, and a user who comes back is listed after those already online.
///
/// All state sits behind one mutex and every operation is short and synchronous, so
/// nobody ever waits on a peer while holding it.
public final class Presence: Sendable {
    /// Identifies one connection for the life of the process.
    public typealias ConnectionID = UInt64

    public struct OnlineEntry: Hashable, Sendable {
        public var user: UserRecord
        /// When the user came online, by the clock of whoever bound them.
        public var since: Timestamp
        /// The live-looking sessions that keep the user online.
        public var sessionIDs: [Int64]
    }

    private struct Binding {
        var sessionID: Int64
        var user: UserRecord
    }

    private struct OnlineUser {
        var user: UserRecord
        var connectionCount: Int
        /// Increases each time a user comes online: the `show` order.
        var arrival: UInt64
        var since: Timestamp
    }

    private struct State {
        var bindings: [ConnectionID: Binding] = [:]
        var users: [Int64: OnlineUser] = [:]
        var nextArrival: UInt64 = 0
    }

    private let state = Locked(State())

    public init() {}

    /// Binds `connection` to `session`, replacing any earlier binding of that connection.
    /// - Returns: the users who came online or went offline because of it.
    @discardableResult
    public func bind(_ connection: ConnectionID, to session: SessionRecord, at now: Timestamp) -> [PresenceChange] {
        state.withLock { state in
            var changes: [PresenceChange] = []
            let previous = state.bindings.updateValue(Binding(sessionID: session.id, user: session.user), forKey: connection)
            // Count the new binding before dropping the old one, so that a user who
            // rebinds to another of their own sessions keeps their place.
            if var online = state.users[session.user.id] {
                online.connectionCount += 1
                online.user = session.user
                state.users[session.user.id] = online
            } else {
                state.users[session.user.id] = OnlineUser(user: session.user, connectionCount: 1, arrival: state.nextArrival, since: now)
                state.nextArrival += 1
                changes.append(PresenceChange(user: session.user, isOnline: true))
            }
            if let previous, let change = Self.release(previous, in: &state) { changes.append(change) }
            return changes
        }
    }

    /// Forgets `connection`'s binding (it closed, logged out, or its session ended).
    /// - Returns: the user who went offline because of it, if one did.
    @discardableResult
    public func unbind(_ connection: ConnectionID) -> [PresenceChange] {
        state.withLock { state in
            guard let previous = state.bindings.removeValue(forKey: connection) else { return [] }
            return Self.release(previous, in: &state).map { [$0] } ?? []
        }
    }

    /// Forgets every binding to any of `sessionIDs` (they were logged out or expired).
    /// - Returns: the users who went offline because of it.
    @discardableResult
    public func unbindSessions(_ sessionIDs: Set<Int64>) -> [PresenceChange] {
        guard !sessionIDs.isEmpty else { return [] }
        return state.withLock { state in
            var changes: [PresenceChange] = []
            for (connection, binding) in state.bindings where sessionIDs.contains(binding.sessionID) {
                state.bindings[connection] = nil
                if let change = Self.release(binding, in: &state) { changes.append(change) }
            }
            return changes
        }
    }

    /// The online users in the order they came online, with the sessions keeping each online.
    public func onlineEntries() -> [OnlineEntry] {
        state.withLock { state in
            var sessions: [Int64: Set<Int64>] = [:]
            for binding in state.bindings.values { sessions[binding.user.id, default: []].insert(binding.sessionID) }
            return state.users.values.sorted { $0.arrival < $1.arrival }.map {
                OnlineEntry(user: $0.user, since: $0.since, sessionIDs: sessions[$0.user.id].map { Array($0).sorted() } ?? [])
            }
        }
    }

    /// Drops one binding's count. - Returns: the change if its user went offline.
    private static func release(_ binding: Binding, in state: inout State) -> PresenceChange? {
        guard var online = state.users[binding.user.id] else { return nil }
        online.connectionCount -= 1
        state.users[binding.user.id] = online.connectionCount > 0 ? online : nil
        return online.connectionCount > 0 ? nil : PresenceChange(user: online.user, isOnline: false)
    }
}

/// A user who came online or went offline (PROTOCOL.md: by the same rule as `show`).
public struct PresenceChange: Hashable, Sendable {
    public var user: UserRecord
    public var isOnline: Bool

    public init(user: UserRecord, isOnline: Bool) {
        self.user = user
        self.isOnline = isOnline
    }
}
