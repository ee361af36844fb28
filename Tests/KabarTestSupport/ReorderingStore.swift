import Dispatch
import KabarCore
import KabarProtocol

// MARK: - ReorderingStore

/// A ``ChatStore`` that passes everything to another store after a random delay of up to a
/// millisecond, so that operations called one after the other may run in any order: a
/// store like a pool of database connections, for testing that a connection keeps its own
/// requests in order.
public final class ReorderingStore: ForwardingStore {
    public let base: any ChatStore

    public init(wrapping base: any ChatStore) {
        self.base = base
    }

    public var runsInCallOrder: Bool { false }

    /// Runs `operation` on another thread, up to a millisecond later.
    private func later(_ operation: @escaping @Sendable () -> Void) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int.random(in: 0...1_000)), execute: operation)
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
        later { base.deliver(text, from: sender, to: recipients, at: now, origin: origin, completion: completion) }
    }

    public func liveSessionIDs(
        among sessionIDs: [Int64],
        at now: Timestamp,
        idleLimit: Duration,
        completion: @escaping StoreCompletion<Set<Int64>>
    ) {
        let base = self.base
        later { base.liveSessionIDs(among: sessionIDs, at: now, idleLimit: idleLimit, completion: completion) }
    }

    public func takeUnreadMessages(
        for userID: Int64,
        at now: Timestamp,
        completion: @escaping StoreCompletion<[ChatMessage]>
    ) {
        let base = self.base
        later { base.takeUnreadMessages(for: userID, at: now, completion: completion) }
    }

    public func unreadMessages(for userID: Int64, completion: @escaping StoreCompletion<UnreadSnapshot>) {
        let base = self.base
        later { base.unreadMessages(for: userID, completion: completion) }
    }

    public func markRead(_ ids: [Int64], for userID: Int64, at now: Timestamp, completion: @escaping StoreCompletion<Int>) {
        let base = self.base
        later { base.markRead(ids, for: userID, at: now, completion: completion) }
    }

    public func history(
        of user: UserRecord,
        with peer: Username,
        limit: Int,
        before beforeID: Int64?,
        completion: @escaping StoreCompletion<[HistoryEntry]?>
    ) {
        let base = self.base
        later { base.history(of: user, with: peer, limit: limit, before: beforeID, completion: completion) }
    }

    public func conversations(of user: UserRecord, completion: @escaping StoreCompletion<[ConversationSummary]>) {
        let base = self.base
        later { base.conversations(of: user, completion: completion) }
    }
}
