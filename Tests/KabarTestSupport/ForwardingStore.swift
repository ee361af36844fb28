import KabarCore
import KabarProtocol

// MARK: - ForwardingStore

/// A test store that wraps another: every operation goes to ``base`` unchanged unless the
/// wrapper implements it itself (``GatedStore`` holds deliveries back, ``ReorderingStore``
/// delays them).
public protocol ForwardingStore: ChatStore {
    var base: any ChatStore { get }
}

extension ForwardingStore {
    public var runsInCallOrder: Bool { base.runsInCallOrder }

    public func deliver(
        _ text: String,
        from sender: UserRecord,
        to recipients: [Username],
        at now: Timestamp,
        origin: Presence.ConnectionID?,
        completion: @escaping StoreCompletion<[ChatMessage]?>
    ) {
        base.deliver(text, from: sender, to: recipients, at: now, origin: origin, completion: completion)
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
