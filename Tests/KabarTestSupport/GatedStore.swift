import KabarCore
import KabarProtocol

// MARK: - GatedStore

/// A ``ChatStore`` that passes everything to another store, except that deliveries wait
/// behind a gate until ``open()``: a store that is slow on demand, to see what the server
/// does while its requests are in progress.
public final class GatedStore: ChatStore {
    private struct State {
        var isOpen = true
        var held: [@Sendable () -> Void] = []
        var deliveriesReceived = 0
    }

    private let base: any ChatStore
    private let state = Locked(State())

    public init(wrapping base: any ChatStore) {
        self.base = base
    }

    public var runsInCallOrder: Bool { base.runsInCallOrder }

    /// How many deliveries the server has handed in so far.
    public var deliveriesReceived: Int { state.withLock { $0.deliveriesReceived } }

    /// Holds every later delivery until ``open()``.
    public func close() {
        state.withLock { $0.isOpen = false }
    }

    /// Lets the held deliveries through, in the order they came, and every later one.
    ///
    /// The gate opens only once nothing is held: a delivery the server hands in while the
    /// held ones are being passed on (its answer to the first of them) queues behind them.
    public func open() {
        while true {
            let held = state.withLock { state -> [@Sendable () -> Void] in
                if state.held.isEmpty { state.isOpen = true }
                defer { state.held = [] }
                return state.held
            }
            guard !held.isEmpty else { return }
            held.forEach { $0() }
        }
    }

    public func deliver(
        _ text: String,
        from sender: UserRecord,
        to recipients: [Username],
        at now: Timestamp,
        origin: Presence.ConnectionID?,
        completion: @escaping StoreCompletion<[ChatMessage]?>
    ) {
        let base = self.base
        let delivery: @Sendable () -> Void = {
            base.deliver(text, from: sender, to: recipients, at: now, origin: origin, completion: completion)
        }
        let isOpen = state.withLock { state in
            state.deliveriesReceived += 1
            if !state.isOpen { state.held.append(delivery) }
            return state.isOpen
        }
        if isOpen { delivery() }
    }

    public func checkReachable() async throws { try await base.checkReachable() }
    public func insertUser(_ user: NewUser) async throws -> Bool { try await base.insertUser(user) }
    public func user(named username: Username) async throws -> UserRecord? { try await base.user(named: username) }
    public func allUsers() async throws -> [UserRecord] { try await base.allUsers() }
    public func removeUser(named username: Username) async throws -> Bool { try await base.removeUser(named: username) }

    public func replacePasswordHash(of username: Username, with passwordHash: String) async throws -> Bool {
        try await base.replacePasswordHash(of: username, with: passwordHash)
    }

    public func insertSession(tokenHash: TokenHash, userID: Int64, at now: Timestamp) async throws -> Int64 {
        try await base.insertSession(tokenHash: tokenHash, userID: userID, at: now)
    }

    public func session(tokenHash: TokenHash, at now: Timestamp, idleLimit: Duration) async throws -> SessionRecord? {
        try await base.session(tokenHash: tokenHash, at: now, idleLimit: idleLimit)
    }

    public func deleteSession(tokenHash: TokenHash) async throws -> Bool { try await base.deleteSession(tokenHash: tokenHash) }

    public func liveSessionIDs(
        among sessionIDs: [Int64],
        at now: Timestamp,
        idleLimit: Duration,
        completion: @escaping StoreCompletion<Set<Int64>>
    ) {
        base.liveSessionIDs(among: sessionIDs, at: now, idleLimit: idleLimit, completion: completion)
    }

    public func takeUnreadMessages(
        for userID: Int64,
        at now: Timestamp,
        completion: @escaping StoreCompletion<[ChatMessage]>
    ) {
        base.takeUnreadMessages(for: userID, at: now, completion: completion)
    }

    public func unreadMessages(for userID: Int64, completion: @escaping StoreCompletion<UnreadSnapshot>) {
        base.unreadMessages(for: userID, completion: completion)
    }

    public func markRead(_ ids: [Int64], for userID: Int64, at now: Timestamp, completion: @escaping StoreCompletion<Int>) {
        base.markRead(ids, for: userID, at: now, completion: completion)
    }

    public func history(
        of user: UserRecord,
        with peer: Username,
        limit: Int,
        before beforeID: Int64?,
        completion: @escaping StoreCompletion<[HistoryEntry]?>
    ) {
        base.history(of: user, with: peer, limit: limit, before: beforeID, completion: completion)
    }

    public func conversations(of user: UserRecord, completion: @escaping StoreCompletion<[ConversationSummary]>) {
        base.conversations(of: user, completion: completion)
    }
}
