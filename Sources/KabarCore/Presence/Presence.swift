
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
    }

    private struct State {
        var bindings: [ConnectionID: Binding] = [:]
        var users: [Int64: OnlineUser] = [:]
        var nextArrival: UInt64 = 0
    }

    private let state = Locked(State())

    public init() {}

    /// Binds `connection` to `session`, replacing any earlier binding of that connection.
    public func bind(_ connection: ConnectionID, to session: SessionRecord) {
        state.withLock { state in
            let previous = state.bindings.updateValue(Binding(sessionID: session.id, user: session.user), forKey: connection)
            // Count the new binding before dropping the old one, so that a user who
            // rebinds to another of their own sessions keeps their place.
            if var online = state.users[session.user.id] {
                online.connectionCount += 1
                online.user = session.user
                state.users[session.user.id] = online
            } else {
                state.users[session.user.id] = OnlineUser(user: session.user, connectionCount: 1, arrival: state.nextArrival)
                state.nextArrival += 1
            }
            if let previous { Self.release(previous, in: &state) }
        }
    }

    /// Forgets `connection`'s binding (it closed, logged out, or its session ended).
    public func unbind(_ connection: ConnectionID) {
        state.withLock { state in
            if let previous = state.bindings.removeValue(forKey: connection) { Self.release(previous, in: &state) }
        }
    }

    /// Forgets every binding to any of `sessionIDs` (they were logged out or expired).
    public func unbindSessions(_ sessionIDs: Set<Int64>) {
        guard !sessionIDs.isEmpty else { return }
        state.withLock { state in
            for (connection, binding) in state.bindings where sessionIDs.contains(binding.sessionID) {
                state.bindings[connection] = nil
                Self.release(binding, in: &state)
            }
        }
    }

    /// The online users in the order they came online, with the sessions keeping each online.
    public func onlineEntries() -> [OnlineEntry] {
        state.withLock { state in
            var sessions: [Int64: Set<Int64>] = [:]
            for binding in state.bindings.values { sessions[binding.user.id, default: []].insert(binding.sessionID) }
            return state.users.values.sorted { $0.arrival < $1.arrival }.map {
                OnlineEntry(user: $0.user, sessionIDs: sessions[$0.user.id].map { Array($0).sorted() } ?? [])
            }
        }
    }

    private static func release(_ binding: Binding, in state: inout State) {
        guard var online = state.users[binding.user.id] else { return }
        online.connectionCount -= 1
        state.users[binding.user.id] = online.connectionCount > 0 ? online : nil
    }
}
