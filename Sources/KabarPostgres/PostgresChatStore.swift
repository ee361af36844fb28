import KabarCore
import KabarProtocol
import Logging
import NIOCore
import PostgresNIO

// MARK: - PostgresChatStore

/// The ``ChatStore`` for several nodes: one PostgreSQL database, through a pool of
/// connections.
///
/// Every operation is its own statement or transaction on a pooled connection, so
/// operations run concurrently (``runsInCallOrder`` is false: each connection keeps its
/// own requests in order). Sends are committed in groups by a ``DeliveryBatcher``: the sends
/// that arrive while a group commits form the next group, one transaction. PostgreSQL
/// reports a commit only once its log is flushed (`synchronous_commit` on, its default, which
/// the store checks at start), so every `OK` still means durable.
public final class PostgresChatStore: ChatStore {
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    private let batcher: DeliveryBatcher
    /// The connections this node's messages were sent on, for its ``PostgresNode``'s feed.
    let origins = MessageOrigins()
    /// A session's `last_used_at` is rewritten at most this often (as in SQLite's store).
    static let lastUsedResolution: Duration = .seconds(60)

    /// Connects to the database at `location`, creating or upgrading Kabar's schema
    /// (safe while other nodes do the same).
    ///
    /// - Parameter connections: the most connections the pool opens.
    public static func connect(to location: PostgresLocation, connections: Int = 16, logger: Logger) async throws
        -> PostgresChatStore
    {
        let store = PostgresChatStore(client: PostgresClient(configuration: location.clientConfiguration(connections: connections), backgroundLogger: logger), logger: logger)
        do {
            try await PostgresMigrator(client: store.client, logger: logger).migrate(to: PostgresSchema.migrations)
            try await store.requireSynchronousCommit()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.runner = Task { await client.run() }
        self.batcher = DeliveryBatcher(client: client, origins: origins, logger: logger)
    }

    public func checkReachable() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    /// Closes the pool; operations in progress fail. Waits at most ``closingPatience`` for
    /// the pool's connections to close: a process that is shutting down does not wait on a
    /// connection the database no longer answers.
    public func close() async {
        runner.cancel()
        let runner = self.runner
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await runner.value }
            group.addTask { try? await Task.sleep(for: Self.closingPatience) }
            await group.next()
            group.cancelAll()
        }
    }

    static let closingPatience: Duration = .seconds(3)

    /// The coordination of a process that is not a node (`kabar-server user`): the sessions
    /// it ends are forgotten by every node before it goes on.
    public func commandCoordination() -> NodeCoordination {
        var coordination = NodeCoordination.singleNode()
        coordination.sessionEndings = PostgresSessionEndings(store: self, nodeID: nil)
        return coordination
    }

    private func requireSynchronousCommit() async throws {
        let rows = try await client.query("SHOW synchronous_commit", logger: logger)
        for try await setting in rows.decode(String.self) where setting == "off" {
            throw PostgresStoreError.synchronousCommitOff
        }
    }

    // MARK: - Users

    public func insertUser(_ user: NewUser) async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO users (username, name, country, password_hash, created_at)
            VALUES (\(user.username.text), \(user.profile.name), \(user.profile.country), \(user.passwordHash),
                    (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
            ON CONFLICT (username) DO NOTHING RETURNING id
            """,
            logger: logger
        )
        return try await rows.decode(Int64.self).first { _ in true } != nil
    }

    public func user(named username: Username) async throws -> UserRecord? {
        try await users("SELECT \(unescaped: Self.userColumns) FROM users WHERE username = \(username.text)").first
    }

    public func allUsers() async throws -> [UserRecord] {
        try await users("SELECT \(unescaped: Self.userColumns) FROM users ORDER BY username")
    }

    private static let userColumns = "id, username, name, country, password_hash"

    /// The users in the rows of `query`, which selects ``userColumns``.
    private func users(_ query: PostgresQuery) async throws -> [UserRecord] {
        var users: [UserRecord] = []
        for try await (id, username, name, country, hash) in try await client.query(query, logger: logger)
            .decode((Int64, String, String, String, String).self)
        {
            guard let username = Username(username), let profile = Profile(name: name, country: country) else { continue }
            users.append(UserRecord(id: id, username: username, profile: profile, passwordHash: hash))
        }
        return users
    }

    public func removeUser(named username: Username) async throws -> Bool {
        // As in SQLite's store: the messages to the user go a bounded number per
        // transaction, then the user, whose ON DELETE CASCADE takes what came meanwhile.
        guard let user = try await user(named: username) else { return false }
        while try await deleteMessages(to: user.id, upTo: Self.removalChunk) == Self.removalChunk {}
        let rows = try await client.query("DELETE FROM users WHERE id = \(user.id) RETURNING id", logger: logger)
        return try await rows.decode(Int64.self).first { _ in true } != nil
    }

    /// The most messages one transaction of a user's removal deletes.
    static let removalChunk = 2_000

    func deleteMessages(to userID: Int64, upTo limit: Int) async throws -> Int {
        let rows = try await client.query(
            """
            DELETE FROM messages WHERE id IN
                (SELECT id FROM messages WHERE recipient_id = \(userID) ORDER BY id LIMIT \(Int64(limit)))
            RETURNING id
            """,
            logger: logger
        )
        return try await rows.decode(Int64.self).reduce(0) { count, _ in count + 1 }
    }

    public func replacePasswordHash(of username: Username, with passwordHash: String) async throws -> Bool {
        let rows = try await client.query(
            """
            WITH changed AS (UPDATE users SET password_hash = \(passwordHash) WHERE username = \(username.text) RETURNING id),
                 ended AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM changed))
            SELECT id FROM changed
            """,
            logger: logger
        )
        return try await rows.decode(Int64.self).first { _ in true } != nil
    }

    // MARK: - Sessions

    public func insertSession(tokenHash: TokenHash, userID: Int64, at now: Timestamp) async throws -> Int64 {
        let rows = try await client.query(
            """
            INSERT INTO sessions (token_hash, user_id, created_at, last_used_at)
            VALUES (\(ByteBuffer(bytes: tokenHash.bytes)), \(userID), \(now.milliseconds), \(now.milliseconds)) RETURNING id
            """,
            logger: logger
        )
        guard let id = try await rows.decode(Int64.self).first(where: { _ in true }) else {
            throw PostgresStoreError.missingRow("INSERT INTO sessions")
        }
        return id
    }

    public func session(tokenHash: TokenHash, at now: Timestamp, idleLimit: Duration) async throws -> SessionRecord? {
        let rows = try await client.query(
            """
            SELECT s.id, s.last_used_at, u.id, u.username, u.name, u.country, u.password_hash
            FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = \(ByteBuffer(bytes: tokenHash.bytes))
            """,
            logger: logger
        )
        guard
            let (sessionID, lastUsed, userID, username, name, country, hash) = try await rows
                .decode((Int64, Int64, Int64, String, String, String, String).self).first(where: { _ in true }),
            let user = Username(username), let profile = Profile(name: name, country: country)
        else { return nil }
        if now.milliseconds - lastUsed > idleLimit.wholeMilliseconds {
            try await client.query("DELETE FROM sessions WHERE id = \(sessionID)", logger: logger)
            return nil
        }
        if now.milliseconds - lastUsed >= Self.lastUsedResolution.wholeMilliseconds {
            try await client.query(
                "UPDATE sessions SET last_used_at = \(now.milliseconds) WHERE id = \(sessionID) AND last_used_at < \(now.milliseconds)",
                logger: logger
            )
        }
        return SessionRecord(id: sessionID, user: UserRecord(id: userID, username: user, profile: profile, passwordHash: hash))
    }

    public func deleteSession(tokenHash: TokenHash) async throws -> Bool {
        let rows = try await client.query(
            "DELETE FROM sessions WHERE token_hash = \(ByteBuffer(bytes: tokenHash.bytes)) RETURNING id",
            logger: logger
        )
        return try await rows.decode(Int64.self).first { _ in true } != nil
    }

    public func liveSessionIDs(
        among sessionIDs: [Int64],
        at now: Timestamp,
        idleLimit: Duration,
        completion: @escaping StoreCompletion<Set<Int64>>
    ) {
        guard !sessionIDs.isEmpty else { return completion(.success([])) }
        let oldestLive = now.milliseconds - idleLimit.wholeMilliseconds
        run(completion) { [client, logger] in
            let rows = try await client.query(
                "SELECT id FROM sessions WHERE id = ANY(\(sessionIDs)) AND last_used_at >= \(oldestLive)",
                logger: logger
            )
            return try await rows.decode(Int64.self).reduce(into: Set<Int64>()) { $0.insert($1) }
        }
    }

    // MARK: - Messages

    public func deliver(
        _ text: String,
        from sender: UserRecord,
        to recipients: [Username],
        at now: Timestamp,
        origin: Presence.ConnectionID?,
        completion: @escaping StoreCompletion<[ChatMessage]?>
    ) {
        batcher.submit(DeliveryBatcher.Delivery(text: text, sender: sender, recipients: recipients, time: now, origin: origin, completion: completion))
    }

    /// The whole burst goes to the group commit at once, not one send after the other's
    /// commit: the batcher stores deliveries in the order it gets them (in one group, or in
    /// groups committed one after the other), so the burst still takes effect in order.
    public func deliver(_ messages: [OutgoingMessage], at now: Timestamp, completion: @escaping StoreCompletion<[DeliveryOutcome]>) {
        deliverAllAtOnce(messages, at: now, completion: completion)
    }

    public func takeUnreadMessages(
        for userID: Int64,
        at now: Timestamp,
        completion: @escaping StoreCompletion<[ChatMessage]>
    ) {
        // One statement: a reader racing it waits for its row locks, then finds those
        // messages read and skips them, so no message is taken twice.
        run(completion) { [client, logger] in
            let rows = try await client.query(
                """
                WITH taken AS (
                    UPDATE messages SET read_at = GREATEST(\(now.milliseconds), received_at)
                    WHERE recipient_id = \(userID) AND read_at IS NULL
                    RETURNING id, sender_username, sender_name, recipient_id, body, received_at
                )
                SELECT t.id, t.sender_username, u.username, t.sender_name, u.name, t.body, t.received_at
                FROM taken t JOIN users u ON u.id = t.recipient_id ORDER BY t.id
                """,
                logger: logger
            )
            return try await Self.messages(rows)
        }
    }

    public func unreadMessages(for userID: Int64, completion: @escaping StoreCompletion<UnreadSnapshot>) {
        run(completion) { [client, logger] in
            try await client.withConnection { connection in
                // One snapshot for both: the unread messages and the highest id committed.
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                do {
                    let messages = try await Self.messages(
                        connection.query(Self.unreadMessagesQuery(userID: userID), logger: logger)
                    )
                    let last = try await connection.query("SELECT next_id - 1 FROM message_ids", logger: logger)
                        .decode(Int64.self).first { _ in true } ?? 0
                    try await connection.query("COMMIT", logger: logger)
                    return UnreadSnapshot(messages: messages, lastCommittedID: last)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    public func markRead(_ ids: [Int64], for userID: Int64, at now: Timestamp, completion: @escaping StoreCompletion<Int>) {
        run(completion) { [client, logger] in
            let rows = try await client.query(
                """
                UPDATE messages SET read_at = GREATEST(\(now.milliseconds), received_at)
                WHERE id = ANY(\(Array(Set(ids)))) AND recipient_id = \(userID) AND read_at IS NULL RETURNING id
                """,
                logger: logger
            )
            return try await rows.decode(Int64.self).reduce(0) { count, _ in count + 1 }
        }
    }

    // MARK: - Conversations

    public func history(
        of user: UserRecord,
        with peer: Username,
        limit: Int,
        before beforeID: Int64?,
        completion: @escaping StoreCompletion<[HistoryEntry]?>
    ) {
        run(completion) { [client, logger] () -> [HistoryEntry]? in
            let peerRows = try await client.query("SELECT id FROM users WHERE username = \(peer.text)", logger: logger)
            guard let peerID = try await peerRows.decode(Int64.self).first(where: { _ in true }) else { return nil }
            let before = beforeID ?? Int64.max
            let limit = Int64(limit)
            // Each direction is a backward range of `messages_conversation` that stops after
            // `limit` rows; a conversation with oneself has only one.
            let query: PostgresQuery =
                user.id == peerID
                ? """
                SELECT \(unescaped: Self.messageColumns), m.read_at IS NOT NULL FROM messages m JOIN users r ON r.id = m.recipient_id
                WHERE m.recipient_id = \(peerID) AND m.sender_username = \(user.username.text) AND m.id < \(before)
                ORDER BY m.id DESC LIMIT \(limit)
                """
                : """
                (SELECT \(unescaped: Self.messageColumns), m.read_at IS NOT NULL FROM messages m JOIN users r ON r.id = m.recipient_id
                 WHERE m.recipient_id = \(peerID) AND m.sender_username = \(user.username.text) AND m.id < \(before)
                 ORDER BY m.id DESC LIMIT \(limit))
                UNION ALL
                (SELECT \(unescaped: Self.messageColumns), m.read_at IS NOT NULL FROM messages m JOIN users r ON r.id = m.recipient_id
                 WHERE m.recipient_id = \(user.id) AND m.sender_username = \(peer.text) AND m.id < \(before)
                 ORDER BY m.id DESC LIMIT \(limit))
                ORDER BY 1 DESC LIMIT \(limit)
                """
            var entries: [HistoryEntry] = []
            for try await (id, from, to, fromName, toName, body, time, isRead) in try await client.query(query, logger: logger)
                .decode((Int64, String, String, String, String, ByteBuffer, Int64, Bool).self)
            {
                let message = ChatMessage(
                    id: id, from: from, to: to, fromName: fromName, toName: toName,
                    text: String(buffer: body), timeMilliseconds: time
                )
                entries.append(HistoryEntry(message: message, isRead: isRead))
            }
            return entries.reversed()
        }
    }

    public func conversations(of user: UserRecord, completion: @escaping StoreCompletion<[ConversationSummary]>) {
        run(completion) { [client, logger] in
            var unread: [String: Int] = [:]
            for try await (sender, count) in try await client.query(
                """
                SELECT sender_username, count(*) FROM messages WHERE recipient_id = \(user.id) AND read_at IS NULL
                GROUP BY sender_username
                """,
                logger: logger
            ).decode((String, Int64).self) {
                unread[sender] = Int(count)
            }
            var summaries: [ConversationSummary] = []
            for try await (id, from, to, fromName, toName, body, time, peer, name, country) in try await client.query(
                """
                SELECT \(unescaped: Self.messageColumns), p.username, p.name, p.country
                FROM conversations c JOIN users p ON p.username = c.peer_username
                JOIN messages m ON m.id = c.last_message_id JOIN users r ON r.id = m.recipient_id
                WHERE c.user_id = \(user.id) ORDER BY c.last_message_id DESC
                """,
                logger: logger
            ).decode((Int64, String, String, String, String, ByteBuffer, Int64, String, String, String).self) {
                let last = ChatMessage(
                    id: id, from: from, to: to, fromName: fromName, toName: toName,
                    text: String(buffer: body), timeMilliseconds: time
                )
                summaries.append(
                    ConversationSummary(
                        peer: OnlineUser(username: peer, name: name, country: country),
                        unread: unread[peer] ?? 0,
                        last: last
                    )
                )
            }
            return summaries
        }
    }

    // MARK: - Rows

    /// The columns of a message, as ``messages(_:)`` reads them, from `m` (messages) and
    /// `r` (its recipient).
    static let messageColumns = "m.id, m.sender_username, r.username, m.sender_name, r.name, m.body, m.received_at"

    /// A user's unread messages, oldest first, from the partial index `messages_unread`.
    static func unreadMessagesQuery(userID: Int64) -> PostgresQuery {
        """
        SELECT \(unescaped: messageColumns) FROM messages m JOIN users r ON r.id = m.recipient_id
        WHERE m.recipient_id = \(userID) AND m.read_at IS NULL ORDER BY m.id
        """
    }

    /// The messages in rows of ``messageColumns``.
    static func messages(_ rows: PostgresRowSequence) async throws -> [ChatMessage] {
        var messages: [ChatMessage] = []
        for try await (id, from, to, fromName, toName, body, time) in rows
            .decode((Int64, String, String, String, String, ByteBuffer, Int64).self)
        {
            messages.append(
                ChatMessage(id: id, from: from, to: to, fromName: fromName, toName: toName, text: String(buffer: body), timeMilliseconds: time)
            )
        }
        return messages
    }

    /// Runs `operation` as a task and hands its outcome to `completion`.
    private func run<Value: Sendable>(
        _ completion: @escaping StoreCompletion<Value>,
        _ operation: @escaping @Sendable () async throws -> Value
    ) {
        Task {
            do {
                completion(.success(try await operation()))
            } catch {
                completion(.failure(error))
            }
        }
    }
}

/// Why the PostgreSQL store refuses to work.
public enum PostgresStoreError: Error, CustomStringConvertible {
    /// `synchronous_commit = off` would acknowledge sends a crash can lose.
    case synchronousCommitOff
    case missingRow(String)
    case schemaTooNew(found: Int, known: Int)

    public var description: String {
        switch self {
        case .synchronousCommitOff:
            "the database has synchronous_commit = off: an acknowledged send could be lost; set it to on (the default)"
        case .missingRow(let statement):
            "no row came back from \(statement)"
        case .schemaTooNew(let found, let known):
            "the database's schema version is \(found), newer than this kabar-server knows (\(known)): upgrade it"
        }
    }
}
