import KabarProtocol

// MARK: - ChatStore

/// Everything the chat service needs from storage.
///
/// Each method is one transaction that keeps the data consistent on its own: two
/// callers of ``takeUnreadMessages(for:at:completion:)`` never get the same message, and
/// ``deliver(_:from:to:at:completion:)`` stores a message for every recipient or for
/// none. A method reports its result only after its transaction is durable.
///
/// The methods that take a completion handler are the ones a busy connection calls many
/// times in a row. They return at once.
/// `ChatStore+Async.swift` offers them as `async` methods too.
///
/// A store may run the operations it is handed concurrently; one that runs them in the
/// order they were called says so with ``runsInCallOrder``, and then a connection hands in
/// its pipelined requests without waiting (see ``RequestLane``).
public protocol ChatStore: Sendable {
    /// Whether every operation runs after every operation called before it.
    var runsInCallOrder: Bool { get }

    /// Returns once the store has answered a trivial query: it is reachable and working.
    func checkReachable() async throws

    /// Stores a new user. - Returns: false if the username is taken.
    func insertUser(_ user: NewUser) async throws -> Bool
    func user(named username: Username) async throws -> UserRecord?
    /// Every user, ordered by username.
    func allUsers() async throws -> [UserRecord]
    /// Removes a user, their sessions and their inbox. A store may delete a long inbox in
    /// several transactions first, so that one removal never holds the store for long.
    /// - Returns: false if there was no such user.
    func removeUser(named username: Username) async throws -> Bool
    /// Replaces a user's password hash and ends all their sessions. - Returns: false if there was no such user.
    func replacePasswordHash(of username: Username, with passwordHash: String) async throws -> Bool

    /// Starts a session for `userID`, known from now on by `tokenHash`.
    func insertSession(tokenHash: TokenHash, userID: Int64, at now: Timestamp) async throws -> Int64
    /// The live session known by `tokenHash`, marked as used at `now`; nil if there is none
    /// or it has been idle longer than `idleLimit` (an expired session is deleted).
    func session(tokenHash: TokenHash, at now: Timestamp, idleLimit: Duration) async throws -> SessionRecord?
    /// Ends a session. - Returns: false if there was no such session.
    func deleteSession(tokenHash: TokenHash) async throws -> Bool
    /// Which of `sessionIDs` are still live (not ended, not expired) at `now`.
    func liveSessionIDs(
        among sessionIDs: [Int64],
        at now: Timestamp,
        idleLimit: Duration,
        completion: @escaping StoreCompletion<Set<Int64>>
    )

    /// Stores `text` from `sender` for each of `recipients`, all or nothing: the messages
    /// stored, one per recipient in the order given, with their ids; nil, and nothing is
    /// stored, if any recipient does not exist.
    ///
    /// - Parameter origin: the connection the message was sent on, for a store whose
    ///   ``CommitFeed`` publishes it (that connection gets no `sent` event).
    func deliver(
        _ text: String,
        from sender: UserRecord,
        to recipients: [Username],
        at now: Timestamp,
        origin: Presence.ConnectionID?,
        completion: @escaping StoreCompletion<[ChatMessage]?>
    )
    /// Stores several messages, in order, each all or nothing as
    /// ``deliver(_:from:to:at:origin:completion:)`` stores one: the outcome of each, in the
    /// order given. A connection's pipelined sends come this way, so that a store can take
    /// them as one unit of work. The default stores them one by one.
    func deliver(
        _ messages: [OutgoingMessage],
        at now: Timestamp,
        completion: @escaping StoreCompletion<[DeliveryOutcome]>
    )
    /// The user's unread messages in the order they were received, now marked read.
    func takeUnreadMessages(for userID: Int64, at now: Timestamp, completion: @escaping StoreCompletion<[ChatMessage]>)
    /// The user's unread messages in the order they were received, left unread, and the
    /// highest message id committed when they were read.
    func unreadMessages(for userID: Int64, completion: @escaping StoreCompletion<UnreadSnapshot>)
    /// Marks as read those of `ids` that are unread messages to the user. - Returns: how many.
    func markRead(_ ids: [Int64], for userID: Int64, at now: Timestamp, completion: @escaping StoreCompletion<Int>)
    /// The newest `limit` messages between `user` and `peer`, both ways, with an id below
    /// `beforeID` (any id when nil), oldest first, with their read state; nil if there is
    /// no user `peer`. Served by an index: its cost does not grow with the conversation.
    func history(
        of user: UserRecord,
        with peer: Username,
        limit: Int,
        before beforeID: Int64?,
        completion: @escaping StoreCompletion<[HistoryEntry]?>
    )
    /// One summary per user `user` has exchanged messages with, the most recent first.
    func conversations(of user: UserRecord, completion: @escaping StoreCompletion<[ConversationSummary]>)
}

/// A user's unread messages at one moment, for a subscription's replay.
public struct UnreadSnapshot: Sendable {
    /// Oldest first.
    public var messages: [ChatMessage]
    /// The highest id of any message committed at that moment (0 if none): a message
    /// published later with an id at or below it was either replayed or read already.
    public var lastCommittedID: Int64

    public init(messages: [ChatMessage], lastCommittedID: Int64) {
        self.messages = messages
        self.lastCommittedID = lastCommittedID
    }
}

extension ChatStore {
    public var runsInCallOrder: Bool { false }

    /// Stores the messages one by one: all handed in at once to a store that runs
    /// operations in call order, each after the one before it has finished to one that
    /// does not (so that they still take effect in order). Completes when the last one's
    /// outcome is in, never with a failure of its own.
    public func deliver(
        _ messages: [OutgoingMessage],
        at now: Timestamp,
        completion: @escaping StoreCompletion<[DeliveryOutcome]>
    ) {
        guard runsInCallOrder else { return deliverInTurn(messages[...], at: now, after: [], completion: completion) }
        deliverAllAtOnce(messages, at: now, completion: completion)
    }

    /// Hands every message to ``deliver(_:from:to:at:origin:completion:)`` at once, and
    /// completes with their outcomes once all are in: for a store that keeps deliveries
    /// in the order they were called, as one that runs everything in call order does.
    public func deliverAllAtOnce(
        _ messages: [OutgoingMessage],
        at now: Timestamp,
        completion: @escaping StoreCompletion<[DeliveryOutcome]>
    ) {
        guard !messages.isEmpty else { return completion(.success([])) }
        let outcomes = Locked((results: [DeliveryOutcome?](repeating: nil, count: messages.count), missing: messages.count))
        for (index, message) in messages.enumerated() {
            deliver(message.text, from: message.sender, to: message.recipients, at: now, origin: message.origin) { result in
                let finished = outcomes.withLock { outcomes -> [DeliveryOutcome]? in
                    outcomes.results[index] = result
                    outcomes.missing -= 1
                    return outcomes.missing == 0 ? outcomes.results.map { $0! } : nil
                }
                if let finished { completion(.success(finished)) }
            }
        }
    }

    private func deliverInTurn(
        _ messages: ArraySlice<OutgoingMessage>,
        at now: Timestamp,
        after earlier: [DeliveryOutcome],
        completion: @escaping StoreCompletion<[DeliveryOutcome]>
    ) {
        guard let message = messages.first else { return completion(.success(earlier)) }
        deliver(message.text, from: message.sender, to: message.recipients, at: now, origin: message.origin) { result in
            deliverInTurn(messages.dropFirst(), at: now, after: earlier + [result], completion: completion)
        }
    }
}

/// What became of one message of ``ChatStore/deliver(_:at:completion:)``: the messages
/// stored, one per recipient; nil, and nothing stored, if a recipient does not exist; or
/// the failure that stored nothing.
public typealias DeliveryOutcome = Result<[ChatMessage]?, any Error>

/// Receives the result of a store operation, on whatever thread the store finished it.
public typealias StoreCompletion<Value> = @Sendable (Result<Value, any Error>) -> Void
