// MARK: - MessageIDs

/// The ids of new messages, each above every id a message ever had: an id names one message
/// for good (a client's `read`, a history page's `before`, the web page telling a replayed
/// message from a live one), also after the newest messages went with their recipient.
///
/// SQLite's `AUTOINCREMENT` keeps that promise by reading and rewriting a row of
/// `sqlite_sequence` in every `INSERT`: a sixth of the instructions SQLite spends storing a
/// message (BENCHMARKS.md, issue 14, a ninth look). Kabar keeps it so:
/// - in the file: deleting a message raises `message_id_floor` to its id (a trigger, so
///   every deletion does, however it is made), so the highest id ever given is the larger of
///   the floor and the highest id in `messages`;
/// - in memory: the next id is one above that, read once and then counted up, and read
///   again when another connection committed (``SQLiteConnection/commitsElsewhereSeen()``:
///   another process may have deleted messages, or, a server sharing the file, stored
///   some). Inside a transaction nobody else can commit.
///
/// An id is spent once handed out, whether its message is then stored or not (rolled back
/// with its savepoint or transaction): ids have gaps, and are never given twice.
///
/// Only units of work use it, one at a time on the database's worker thread: that is its
/// whole synchronisation, hence `@unchecked Sendable` (the thread sanitizer checks it in
/// every SQLite test).
final class MessageIDs: @unchecked Sendable {
    private var next: Int64?
    /// What ``SQLiteConnection/commitsElsewhereSeen()`` said when `next` was read.
    private var commitsElsewhereSeen: Int?

    /// The id for a new message, spent from now on.
    func take(on db: SQLiteConnection) throws(SQLiteError) -> Int64 {
        let seen = try db.commitsElsewhereSeen()
        if seen != commitsElsewhereSeen {
            next = nil
            commitsElsewhereSeen = seen
        }
        let id: Int64
        if let next { id = next } else { id = try Self.aboveAllGiven(on: db) }
        guard id < .max else { throw .messageIDsExhausted }
        next = id + 1
        return id
    }

    /// One above the highest id a message ever had.
    private static func aboveAllGiven(on db: SQLiteConnection) throws(SQLiteError) -> Int64 {
        let highest = try db.query(
            "SELECT max(coalesce((SELECT max(id) FROM messages), 0), (SELECT id FROM message_id_floor))"
        ).first?.integer(0) ?? 0
        return highest == .max ? .max : highest + 1
    }
}

extension SQLiteError {
    static let messageIDsExhausted = SQLiteError(code: 13, message: "no message id is left")  // SQLITE_FULL
}
