// MARK: - RecipientDirectory

/// Users' ids and names by username, for the recipients of `send`: a busy sender's
/// recipients are looked up in memory, not with a query per message.
///
/// An entry is right while the user's row is unchanged. Kabar never renames a user, so an
/// entry goes stale only when its user is removed (and perhaps added again, with another
/// name, and maybe the same id: the ids of removed users are reused):
/// - through this store: `removeUser` forgets the entry in the transaction that deletes
///   the user;
/// - through another connection (`kabar-server user remove` in another process, say):
///   the first lookup of a transaction asks the connection whether others committed since
///   (``SQLiteConnection/commitsElsewhereSeen()``), and if so empties the directory.
///
/// Only units of work touch it, and the database's one worker thread runs them one at a
/// time: that is the whole of its synchronisation, hence `@unchecked Sendable` (the thread
/// sanitizer checks it in every SQLite test).
final class RecipientDirectory: @unchecked Sendable {
    struct Recipient: Sendable {
        let id: Int64
        let name: String
    }

    /// Past this many users it starts over, so that its memory stays bounded.
    static let capacity = 10_000

    private var recipients: [String: Recipient] = [:]
    /// What ``SQLiteConnection/commitsElsewhereSeen()`` said when `recipients` was last checked.
    private var commitsElsewhereSeen: Int?

    /// The user named `username`, or nil if there is none.
    func recipient(named username: String, on db: SQLiteConnection) throws(SQLiteError) -> Recipient? {
        try forgetIfChangedElsewhere(on: db)
        if let known = recipients[username] { return known }
        let row = try db.query("SELECT id, name FROM users WHERE username = ?", [.text(username)]).first
        guard let id = row?.integer(0), let name = row?.text(1) else { return nil }
        if recipients.count >= Self.capacity { recipients.removeAll(keepingCapacity: true) }
        let recipient = Recipient(id: id, name: name)
        recipients[username] = recipient
        return recipient
    }

    /// Forgets a user this store is removing.
    func forget(_ username: String) {
        recipients[username] = nil
    }

    private func forgetIfChangedElsewhere(on db: SQLiteConnection) throws(SQLiteError) {
        let seen = try db.commitsElsewhereSeen()
        guard seen != commitsElsewhereSeen else { return }
        recipients.removeAll(keepingCapacity: true)
        commitsElsewhereSeen = seen
    }
}
