import KabarCore

// MARK: - UnreadIndex

/// Finds a user's unread messages without indexing each message as it arrives.
///
/// An index on `messages(recipient_id, …)` keeps every recipient's entries on their own
/// leaf pages, so a commit of a few dozen sends to a few dozen people rewrites a few
/// dozen index pages: that write amplification was the main cost of `send`. Instead,
/// new messages form a *tail*: the rows of `messages` whose id is above
/// `unread_index_state.indexed_through`, found by rowid range. Each time message ids
/// pass a multiple of `foldThreshold`, the tail's unread rows are folded into the table
/// `unread_index` by one statement, which rewrites each recipient's page once per fold
/// rather than once per commit.
///
///     messages:   1 … indexed_through | indexed_through+1 … newest   ← sends append here
///                 unread ones listed  | the tail: scanned by rowid
///                 in unread_index     | (at most about foldThreshold rows)
///
/// Invariant: `unread_index` lists exactly the unread messages with ids up to
/// `indexed_through`. Every method runs inside the caller's unit of work, so a unit
/// that is rolled back takes its fold with it.
struct UnreadIndex: Sendable {
    /// How long the tail may grow before it is folded. An inbox scans the tail, so this
    /// trades inbox cost against how often index pages are rewritten.
    let foldThreshold: Int64

    static let defaultFoldThreshold: Int64 = 512

    init(foldThreshold: Int64 = Self.defaultFoldThreshold) {
        precondition(foldThreshold > 0)
        self.foldThreshold = foldThreshold
    }

    /// Call after inserting the messages `insertedIDs`: folds the tail into
    /// `unread_index` whenever the ids pass a multiple of `foldThreshold`, so the tail
    /// stays about `foldThreshold` messages long and most sends cost nothing here. Should
    /// a fold be rolled back with its unit, the next multiple catches up.
    func didInsertMessages(_ insertedIDs: ClosedRange<Int64>, in db: SQLiteConnection) throws {
        guard (insertedIDs.lowerBound - 1) / foldThreshold != insertedIDs.upperBound / foldThreshold else { return }
        let indexedThrough = try Self.indexedThrough(in: db)
        guard indexedThrough < insertedIDs.upperBound else { return }
        try db.execute(
            """
            INSERT INTO unread_index (recipient_id, message_id)
            SELECT recipient_id, id FROM messages WHERE id > ? AND read_at IS NULL
            """,
            [.integer(indexedThrough)]
        )
        try db.execute("UPDATE unread_index_state SET indexed_through = ?", [.integer(insertedIDs.upperBound)])
    }

    /// Marks the user's unread messages read at `now` and returns them, oldest first.
    func takeUnread(for userID: Int64, at now: Timestamp, in db: SQLiteConnection) throws -> [SQLiteRow] {
        let user = SQLiteValue.integer(userID)
        let readAt = SQLiteValue.integer(now.milliseconds)
        let indexed = try db.query(Self.indexedUnreadQuery, [user])
        if !indexed.isEmpty {
            try db.execute(
                """
                UPDATE messages SET read_at = max(?, received_at)
                WHERE id IN (SELECT message_id FROM unread_index WHERE recipient_id = ?)
                """,
                [readAt, user]
            )
            try db.execute("DELETE FROM unread_index WHERE recipient_id = ?", [user])
        }
        // The tail is scanned once; its few unread rows are then marked by id.
        let tail = try db.query(Self.tailUnreadQuery, [user, .integer(Self.indexedThrough(in: db))])
        for row in tail {
            try db.execute("UPDATE messages SET read_at = max(?, received_at) WHERE id = ?", [readAt, row.values[0]])
        }
        return indexed + tail
    }

    // MARK: - Queries

    /// The columns both unread queries return, in ``SQLiteChatStore``'s message order.
    private static let messageColumns = "m.id, m.sender_username, m.sender_name, u.name, m.body"

    /// A user's folded unread messages: a range of `unread_index`'s primary key.
    static let indexedUnreadQuery = """
        SELECT \(messageColumns)
        FROM unread_index i JOIN messages m ON m.id = i.message_id JOIN users u ON u.id = i.recipient_id
        WHERE i.recipient_id = ? ORDER BY i.message_id
        """

    /// A user's unread messages in the tail: a rowid range of `messages`.
    static let tailUnreadQuery = """
        SELECT \(messageColumns)
        FROM messages m JOIN users u ON u.id = m.recipient_id
        WHERE m.recipient_id = ? AND m.id > ? AND m.read_at IS NULL ORDER BY m.id
        """

    private static func indexedThrough(in db: SQLiteConnection) throws -> Int64 {
        guard let value = try db.query("SELECT indexed_through FROM unread_index_state").first?.integer(0) else {
            throw SQLiteError(code: 11, message: "unread_index_state has no row")  // SQLITE_CORRUPT
        }
        return value
    }
}
