import KabarProtocol

// MARK: - ChatStore, awaited

/// The completion-handler operations of ``ChatStore`` as `async` methods, for callers
/// that have nothing else to do meanwhile (administration, tests).
extension ChatStore {
    public func liveSessionIDs(among sessionIDs: [Int64], at now: Timestamp, idleLimit: Duration) async throws
        -> Set<Int64>
    {
        try await withCheckedThrowingContinuation { continuation in
            liveSessionIDs(among: sessionIDs, at: now, idleLimit: idleLimit) { continuation.resume(with: $0) }
        }
    }

    public func deliver(_ text: String, from sender: UserRecord, to recipients: [Username], at now: Timestamp)
        async throws -> [ChatMessage]?
    {
        try await withCheckedThrowingContinuation { continuation in
            deliver(text, from: sender, to: recipients, at: now, origin: nil) { continuation.resume(with: $0) }
        }
    }

    public func deliver(_ messages: [OutgoingMessage], at now: Timestamp) async throws -> [DeliveryOutcome] {
        try await withCheckedThrowingContinuation { continuation in
            deliver(messages, at: now) { continuation.resume(with: $0) }
        }
    }

    public func takeUnreadMessages(for userID: Int64, at now: Timestamp) async throws -> [ChatMessage] {
        try await withCheckedThrowingContinuation { continuation in
            takeUnreadMessages(for: userID, at: now) { continuation.resume(with: $0) }
        }
    }

    public func unreadMessages(for userID: Int64) async throws -> UnreadSnapshot {
        try await withCheckedThrowingContinuation { continuation in
            unreadMessages(for: userID) { continuation.resume(with: $0) }
        }
    }

    public func markRead(_ ids: [Int64], for userID: Int64, at now: Timestamp) async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            markRead(ids, for: userID, at: now) { continuation.resume(with: $0) }
        }
    }

    public func history(of user: UserRecord, with peer: Username, limit: Int, before beforeID: Int64?) async throws
        -> [HistoryEntry]?
    {
        try await withCheckedThrowingContinuation { continuation in
            history(of: user, with: peer, limit: limit, before: beforeID) { continuation.resume(with: $0) }
        }
    }

    public func conversations(of user: UserRecord) async throws -> [ConversationSummary] {
        try await withCheckedThrowingContinuation { continuation in
            conversations(of: user) { continuation.resume(with: $0) }
        }
    }
}
