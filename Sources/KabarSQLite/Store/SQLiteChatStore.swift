import KabarCore
import KabarProtocol

// MARK: - SQLiteChatStore

/// The embedded ``ChatStore``: one SQLite file in WAL mode.
public final class SQLiteChatStore: ChatStore {
    let database: SQLiteDatabase
    /// Where sends find their recipients.
    private let recipientDirectory = RecipientDirectory()
    /// Where sends get their messages' ids.
    private let messageIDs = MessageIDs()
    /// A session's `last_used_at` is rewritten at most this often, so that using a token
    /// does not cost a disk write per request. Expiry is exact to within this much.
    static let lastUsedResolution: Duration = .seconds(60)

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String, durability: SQLiteDurability = .full) throws {
        self.database = try SQLiteDatabase(path: path, durability: durability, migrations: SQLiteSchema.migrations)
    }

    /// A store on a database opened by the caller with Kabar's schema (tests open it
    /// through a simulated disk).
    init(database: SQLiteDatabase) {
        self.database = database
    }

    /// One worker thread runs every operation, in the order they were called.
    public var runsInCallOrder: Bool { true }

    public func checkReachable() async throws {
        _ = try await database.write { db in try db.query("SELECT 1") }
    }

    /// Waits for work in progress, then closes the file.
    public func close() async {
        await database.close()
    }

    // MARK: - Users

    public func insertUser(_ user: NewUser) async throws -> Bool {
        try await database.write { db in
            let changed = try db.execute(
                """
                INSERT INTO users (username, name, country, password_hash, created_at)
                VALUES (?, ?, ?, ?, unixepoch('subsec') * 1000) ON CONFLICT (username) DO NOTHING
                """,
                [.text(user.username.text), .text(user.profile.name), .text(user.profile.country), .text(user.passwordHash)]
            )
            return changed == 1
        }
    }

    public func user(named username: Username) async throws -> UserRecord? {
        try await database.write { db in
            try db.query(Self.selectUser + " WHERE username = ?", [.text(username.text)]).first.flatMap(Self.userRecord)
        }
    }

    public func allUsers() async throws -> [UserRecord] {
        try await database.write { db in
            try db.query(Self.selectUser + " ORDER BY username").compactMap(Self.userRecord)
        }
    }

    public func removeUser(named username: Username) async throws -> Bool {
        // `messages_conversation` indexes messages by recipient: each transaction deletes
        // up to `removalChunk` of the user's messages, so a long history is never deleted
        // under one lock, and a user with few messages costs few transactions however big
        // the table. The last transaction removes the user; its `ON DELETE CASCADE` deletes
        // what arrived in between.
        let found = try await database.write { db in
            try db.query("SELECT id FROM users WHERE username = ?", [.text(username.text)]).first?.integer(0)
        }
        guard let userID = found else { return false }
        while try await deleteMessages(to: userID, upTo: Self.removalChunk) == Self.removalChunk {}
        return try await database.write { [recipientDirectory] db in
            recipientDirectory.forget(username.text)
            return try db.execute("DELETE FROM users WHERE id = ?", [.integer(userID)]) == 1
        }
    }

    /// The most messages one transaction of a user's removal deletes.
    static let removalChunk = 2_000

    /// Deletes up to `limit` of the oldest messages to user `userID`. - Returns: how many.
    func deleteMessages(to userID: Int64, upTo limit: Int) async throws -> Int {
        try await database.write { db in
            try db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE recipient_id = ? ORDER BY id LIMIT ?)",
                [.integer(userID), .integer(Int64(limit))]
            )
        }
    }

    public func replacePasswordHash(of username: Username, with passwordHash: String) async throws -> Bool {
        try await database.write { db in
            let changed = try db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                [.text(passwordHash), .text(username.text)]
            )
            guard changed == 1 else { return false }
            try db.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)",
                [.text(username.text)]
            )
            return true
        }
    }

    // MARK: - Sessions

    public func insertSession(tokenHash: TokenHash, userID: Int64, at now: Timestamp) async throws -> Int64 {
        try await database.write { db in
            try db.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at) VALUES (?, ?, ?, ?)",
                [.blob(tokenHash.bytes), .integer(userID), .integer(now.milliseconds), .integer(now.milliseconds)]
            )
            return db.lastInsertedRowID
        }
    }

    public func session(tokenHash: TokenHash, at now: Timestamp, idleLimit: Duration) async throws -> SessionRecord? {
        try await database.write(changes: .oneStatement) { db in
            let rows = try db.query(
                """
                SELECT s.id, s.last_used_at, u.id, u.username, u.name, u.country, u.password_hash
                FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?
                """,
                [.blob(tokenHash.bytes)]
            )
            guard let row = rows.first, let sessionID = row.integer(0), let lastUsed = row.integer(1),
                let user = Self.userRecord(SQLiteRow(values: Array(row.values[2...])))
            else { return nil }
            if now.milliseconds - lastUsed > idleLimit.wholeMilliseconds {
                try db.execute("DELETE FROM sessions WHERE id = ?", [.integer(sessionID)])
                return nil
            }
            if now.milliseconds - lastUsed >= Self.lastUsedResolution.wholeMilliseconds {
                try db.execute("UPDATE sessions SET last_used_at = ? WHERE id = ?", [.integer(now.milliseconds), .integer(sessionID)])
            }
            return SessionRecord(id: sessionID, user: user)
        }
    }

    public func deleteSession(tokenHash: TokenHash) async throws -> Bool {
        try await database.write { db in
            try db.execute("DELETE FROM sessions WHERE token_hash = ?", [.blob(tokenHash.bytes)]) == 1
        }
    }

    public func liveSessionIDs(
        among sessionIDs: [Int64],
        at now: Timestamp,
        idleLimit: Duration,
        completion: @escaping StoreCompletion<Set<Int64>>
    ) {
        guard !sessionIDs.isEmpty else { return completion(.success([])) }
        let oldestLive = now.milliseconds - idleLimit.wholeMilliseconds
        database.submit(changes: .oneStatement, { db in
            var live = Set<Int64>()
            for id in sessionIDs {
                let rows = try db.query(
                    "SELECT id FROM sessions WHERE id = ? AND last_used_at >= ?",
                    [.integer(id), .integer(oldestLive)]
                )
                if !rows.isEmpty { live.insert(id) }
            }
            return live
        }, completion: completion)
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
        // A message to several recipients needs a savepoint, in case a later INSERT fails;
        // one to a single recipient does not.
        let message = OutgoingMessage(text: text, sender: sender, recipients: recipients, origin: origin)
        let (directory, ids) = (recipientDirectory, messageIDs)
        database.submit(changes: recipients.count == 1 ? .oneStatement : .anyStatements, readsDeferredWork: false, { db in
            try Self.insert(message, at: now, findingRecipientsIn: directory, numberingWith: ids, on: db)
        }, completion: completion)
    }

    /// One unit of work for the whole burst: one job, one answer. Inside it each message is
    /// all or nothing on its own: a single INSERT is by itself, and a message to several
    /// recipients gets a savepoint of its own. A message that fails gives its error and the
    /// others go on, unless the failure ended the transaction (SQLite does after some I/O
    /// errors): then the unit stops, and the whole batch is rolled back and fails. So the
    /// unit is ``UnitChanges/selfContained``: it needs no savepoint of its own (a lone
    /// message to one recipient changes one row, so it is ``UnitChanges/oneStatement``).
    public func deliver(_ messages: [OutgoingMessage], at now: Timestamp, completion: @escaping StoreCompletion<[DeliveryOutcome]>) {
        guard !messages.isEmpty else { return completion(.success([])) }
        let changes: UnitChanges = messages.count == 1 && messages[0].recipients.count == 1 ? .oneStatement : .selfContained
        let (directory, ids) = (recipientDirectory, messageIDs)
        database.submit(changes: changes, readsDeferredWork: false, { db in
            var outcomes: [DeliveryOutcome] = []
            outcomes.reserveCapacity(messages.count)
            // A burst is one connection's pipelined sends: one sender, mostly to the
            // recipients of the message before. Who talked to whom is then recorded already.
            var lastStored: (sender: Int64, recipients: [Username])?
            for message in messages {
                let mark = db.deferred.mark
                let recordedAlready = lastStored.map { $0.sender == message.sender.id && $0.recipients == message.recipients } ?? false
                do {
                    let stored = try message.recipients.count == 1
                        ? Self.insert(message, at: now, findingRecipientsIn: directory, numberingWith: ids, on: db, recordingConversations: !recordedAlready)
                        : Self.inSavepoint(on: db) {
                            try Self.insert(message, at: now, findingRecipientsIn: directory, numberingWith: ids, on: db, recordingConversations: !recordedAlready)
                        }
                    if stored != nil { lastStored = (message.sender.id, message.recipients) }
                    outcomes.append(.success(stored))
                } catch {
                    db.deferred.takeBack(after: mark)
                    outcomes.append(.failure(error))
                    guard db.isInTransaction else { break }
                }
            }
            return outcomes
        }, completion: completion)
    }

    /// Runs `body` inside a savepoint: all of its changes are kept, or none.
    private static func inSavepoint<T>(on db: SQLiteConnection, _ body: () throws -> T) throws -> T {
        try db.execute("SAVEPOINT message")
        do {
            let result = try body()
            try db.execute("RELEASE message")
            return result
        } catch {
            if db.isInTransaction {
                try db.execute("ROLLBACK TO message")
                try db.execute("RELEASE message")
            }
            throw error
        }
    }

    /// Stores `message`: every recipient's id and name first (from the
    /// ``RecipientDirectory``), so that a missing one stores nothing (nil); then one
    /// INSERT … VALUES per recipient, with an id from ``MessageIDs``. (A one-row INSERT
    /// changes pages in place, where an INSERT … SELECT, which could insert many rows, first
    /// copies each page it changes into a statement journal.) Who talked to whom is recorded
    /// once per batch, before anything reads it (``recordConversation``), unless
    /// `recordingConversations` is false (an earlier message of the transaction recorded the
    /// same). All or nothing only inside a savepoint, or with one recipient.
    private static func insert(
        _ message: OutgoingMessage,
        at now: Timestamp,
        findingRecipientsIn directory: RecipientDirectory,
        numberingWith ids: MessageIDs,
        on db: SQLiteConnection,
        recordingConversations: Bool = true
    ) throws -> [ChatMessage]? {
        // A message to one user, the usual kind, needs no list of the recipients found.
        if message.recipients.count == 1 {
            let recipient = message.recipients[0]
            guard let known = try directory.recipient(named: recipient.text, on: db) else { return nil }
            return [try insert(message, for: recipient, known: known, at: now, numberingWith: ids, on: db, recordingConversations: recordingConversations)]
        }
        var found: [RecipientDirectory.Recipient] = []
        found.reserveCapacity(message.recipients.count)
        for recipient in message.recipients {
            guard let known = try directory.recipient(named: recipient.text, on: db) else { return nil }
            found.append(known)
        }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(found.count)
        for (recipient, known) in zip(message.recipients, found) {
            messages.append(try insert(message, for: recipient, known: known, at: now, numberingWith: ids, on: db, recordingConversations: recordingConversations))
        }
        return messages
    }

    /// Stores `message`'s row for one recipient, found in the directory as `known`.
    private static func insert(
        _ message: OutgoingMessage,
        for recipient: Username,
        known: RecipientDirectory.Recipient,
        at now: Timestamp,
        numberingWith ids: MessageIDs,
        on db: SQLiteConnection,
        recordingConversations: Bool
    ) throws -> ChatMessage {
        let senderUsername = message.sender.username.text
        let senderName = message.sender.profile.name
        let id = try ids.take(on: db)
        try db.execute(
            """
            INSERT INTO messages (id, sender_username, sender_name, recipient_id, body, received_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """
        ) { parameters throws(SQLiteError) in
            try parameters.bind(id)
            try parameters.bind(senderUsername)
            try parameters.bind(senderName)
            try parameters.bind(known.id)
            try parameters.bind(message.text)
            try parameters.bind(now.milliseconds)
        }
        if recordingConversations {
            recordConversation(of: known.id, with: senderUsername, on: db)
            recordConversation(of: message.sender.id, with: recipient.text, on: db)
        }
        return ChatMessage(
            id: id,
            from: senderUsername,
            to: recipient.text,
            fromName: senderName,
            toName: known.name,
            text: message.text,
            timeMilliseconds: now.milliseconds
        )
    }

    /// Records that `user` has a conversation with `peer`, before the transaction ends or
    /// anything reads conversations, once however many sends of the batch record it.
    private static func recordConversation(of user: Int64, with peer: String, on db: SQLiteConnection) {
        db.deferUntilRead(
            "INSERT OR IGNORE INTO conversation_peers (user_id, peer_username) VALUES (?, ?)",
            [.integer(user), .text(peer)]
        )
    }

    public func takeUnreadMessages(
        for userID: Int64,
        at now: Timestamp,
        completion: @escaping StoreCompletion<[ChatMessage]>
    ) {
        database.submit(changes: .anyStatements, { db in
            let messages = try db.query(Self.unreadMessagesQuery, [.integer(userID)]).compactMap(Self.chatMessage)
            guard let lastID = messages.last?.id else { return [] }
            try db.execute(Self.markReadUpToQuery, [.integer(now.milliseconds), .integer(userID), .integer(lastID)])
            // Nothing to the user up to `lastID` is unread now, in any conversation.
            try db.execute(
                "UPDATE conversation_peers SET unread_from = ? WHERE user_id = ? AND unread_from <= ?",
                [.integer(lastID + 1), .integer(userID), .integer(lastID)]
            )
            return messages
        }, completion: completion)
    }

    public func unreadMessages(for userID: Int64, completion: @escaping StoreCompletion<UnreadSnapshot>) {
        database.submit(changes: .oneStatement, { db in
            let messages = try db.query(Self.unreadMessagesQuery, [.integer(userID)]).compactMap(Self.chatMessage)
            let lastID = try db.query("SELECT coalesce(max(id), 0) FROM messages").first?.integer(0) ?? 0
            return UnreadSnapshot(messages: messages, lastCommittedID: lastID)
        }, completion: completion)
    }

    public func markRead(_ ids: [Int64], for userID: Int64, at now: Timestamp, completion: @escaping StoreCompletion<Int>) {
        let distinct = Array(Set(ids)).sorted()
        database.submit(changes: .anyStatements, { db in
            var marked = 0
            var senders = Set<String>()
            for id in distinct {
                let sender = try db.query(
                    "UPDATE messages SET read_at = max(?, received_at) WHERE id = ? AND recipient_id = ? AND read_at IS NULL RETURNING sender_username",
                    [.integer(now.milliseconds), .integer(id), .integer(userID)]
                ).first?.text(0)
                if let sender {
                    marked += 1
                    senders.insert(sender)
                }
            }
            // The conversations it read in may start later now: past the read messages at their front.
            for sender in senders {
                try db.execute(Self.advanceUnreadFromQuery, [.integer(userID), .text(sender)])
            }
            return marked
        }, completion: completion)
    }

    // MARK: - Conversations

    public func history(
        of user: UserRecord,
        with peer: Username,
        limit: Int,
        before beforeID: Int64?,
        completion: @escaping StoreCompletion<[HistoryEntry]?>
    ) {
        database.submit(changes: .oneStatement, { db -> [HistoryEntry]? in
            guard let peerID = try db.query("SELECT id FROM users WHERE username = ?", [.text(peer.text)]).first?.integer(0) else {
                return nil
            }
            let before = beforeID ?? Int64.max
            // Each direction is a backward range of `messages_conversation` that stops after
            // `limit` rows; a conversation with oneself has only one.
            let rows = try db.query(
                user.id == peerID ? Self.historyWithOneselfQuery : Self.historyQuery,
                [
                    .integer(peerID), .text(user.username.text), .integer(before), .integer(Int64(limit)),
                    .integer(user.id), .text(peer.text), .integer(before), .integer(Int64(limit)), .integer(Int64(limit)),
                ].prefix(user.id == peerID ? 4 : 9).map { $0 }
            )
            return rows.reversed().compactMap { row in
                Self.chatMessage(row).map { HistoryEntry(message: $0, isRead: row.integer(7) == 1) }
            }
        }, completion: completion)
    }

    public func conversations(of user: UserRecord, completion: @escaping StoreCompletion<[ConversationSummary]>) {
        database.submit(changes: .oneStatement, { db in
            var unread: [String: Int] = [:]
            for row in try db.query(Self.unreadBySenderQuery, [.integer(user.id)]) {
                if let sender = row.text(0), let count = row.integer(1) { unread[sender] = Int(count) }
            }
            return try db.query(Self.conversationsQuery, [.text(user.username.text), .integer(user.id)]).compactMap { row -> ConversationSummary? in
                guard let username = row.text(7), let name = row.text(8), let country = row.text(9), let last = Self.chatMessage(row)
                else { return nil }
                return ConversationSummary(
                    peer: OnlineUser(username: username, name: name, country: country),
                    unread: unread[username] ?? 0,
                    last: last
                )
            }
        }, completion: completion)
    }

    /// The columns of a message, as ``chatMessage(_:)`` reads them, from `m` (messages)
    /// and `r` (its recipient).
    private static let messageColumns = "m.id, m.sender_username, r.username, m.sender_name, r.name, m.body, m.received_at"

    /// Both directions of a conversation, newest first: the user's messages to the peer,
    /// then the peer's to the user. Parameters: peer id, user's name, before, limit; user
    /// id, peer's name, before, limit; limit.
    static let historyQuery = """
        SELECT * FROM (\(historyDirection)) UNION ALL SELECT * FROM (\(historyDirection)) ORDER BY 1 DESC LIMIT ?
        """
    static let historyWithOneselfQuery = historyDirection
    private static let historyDirection = """
        SELECT \(messageColumns), m.read_at IS NOT NULL FROM messages m JOIN users r ON r.id = m.recipient_id
        WHERE m.recipient_id = ? AND m.sender_username = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?
        """

    /// A user's conversations, the most recent first, with each peer's profile: for each
    /// peer, the later of the two directions' last messages, each the end of its range of
    /// `messages_conversation`. Parameters: the user's name, the user's id.
    static let conversationsQuery = """
        SELECT \(messageColumns), p.username, p.name, p.country
        FROM (
            SELECT peer.username, peer.name, peer.country, max(
                coalesce((SELECT max(id) FROM messages WHERE recipient_id = c.user_id AND sender_username = c.peer_username), 0),
                coalesce((SELECT max(id) FROM messages WHERE recipient_id = peer.id AND sender_username = ?), 0)
            ) AS last_id
            FROM conversation_peers c JOIN users peer ON peer.username = c.peer_username
            WHERE c.user_id = ?
        ) p
        JOIN messages m ON m.id = p.last_id JOIN users r ON r.id = m.recipient_id
        ORDER BY m.id DESC
        """

    /// A user's unread messages counted by sender (see ``unreadRanges``). Parameter: the
    /// user's id.
    static let unreadBySenderQuery = """
        SELECT c.peer_username, count(*) FROM \(unreadRanges)
        WHERE c.user_id = ? AND m.read_at IS NULL GROUP BY c.peer_username
        """

    // MARK: - Unread messages

    /// Where a user's unread messages (`m`) are, with their conversation rows (`c`): in
    /// each conversation's range of `messages_conversation` from its `unread_from`, below
    /// which nothing is unread (schema migration 5). An inbox walks what is unread, and
    /// what was read after a conversation's oldest unread message; never the history
    /// before that. (`CROSS JOIN` keeps the conversations outside: the planner would
    /// otherwise walk the recipient's whole range of the index.)
    private static let unreadRanges = """
        conversation_peers c CROSS JOIN messages m INDEXED BY messages_conversation
            ON m.recipient_id = c.user_id AND m.sender_username = c.peer_username AND m.id >= c.unread_from
        """

    /// A user's unread messages, oldest first. Parameter: the user's id.
    static let unreadMessagesQuery = """
        SELECT m.id, m.sender_username, u.username, m.sender_name, u.name, m.body, m.received_at
        FROM \(unreadRanges) JOIN users u ON u.id = c.user_id
        WHERE c.user_id = ? AND m.read_at IS NULL ORDER BY m.id
        """

    /// Marks a user's unread messages read, up to an id. Parameters: the time, the user's
    /// id, the last id.
    static let markReadUpToQuery = """
        UPDATE messages SET read_at = max(?, received_at) WHERE id IN (
            SELECT m.id FROM \(unreadRanges) WHERE c.user_id = ? AND m.read_at IS NULL AND m.id <= ?
        )
        """

    /// Moves a conversation's `unread_from` to its oldest unread message, past the read
    /// ones before it, or past its last message if none is unread. Parameters: the user's
    /// (the recipient's) id, the peer's (the sender's) name.
    static let advanceUnreadFromQuery = """
        UPDATE conversation_peers SET unread_from = coalesce(
            (SELECT m.id FROM messages m INDEXED BY messages_conversation
                WHERE m.recipient_id = ?1 AND m.sender_username = ?2 AND m.id >= conversation_peers.unread_from
                AND m.read_at IS NULL ORDER BY m.id LIMIT 1),
            max(unread_from, (SELECT coalesce(max(m.id), 0) + 1 FROM messages m WHERE m.recipient_id = ?1 AND m.sender_username = ?2))
        )
        WHERE user_id = ?1 AND peer_username = ?2
        """

    /// A message from the columns of ``unreadMessagesQuery``.
    private static func chatMessage(_ row: SQLiteRow) -> ChatMessage? {
        guard let id = row.integer(0), let from = row.text(1), let to = row.text(2), let fromName = row.text(3),
            let toName = row.text(4), let text = row.text(5), let time = row.integer(6)
        else { return nil }
        return ChatMessage(id: id, from: from, to: to, fromName: fromName, toName: toName, text: text, timeMilliseconds: time)
    }

    private static let selectUser = "SELECT id, username, name, country, password_hash FROM users"

    private static func userRecord(_ row: SQLiteRow) -> UserRecord? {
        guard let id = row.integer(0), let username = row.text(1).flatMap(Username.init),
            let name = row.text(2), let country = row.text(3), let profile = Profile(name: name, country: country),
            let passwordHash = row.text(4)
        else { return nil }
        return UserRecord(id: id, username: username, profile: profile, passwordHash: passwordHash)
    }
}
