// MARK: - SQLiteSchema

/// Kabar's schema as migrations. A shipped migration never changes: new needs get a new
/// entry at the end. Times are milliseconds since 1970.
enum SQLiteSchema {
    static let migrations: [String] = [
        // 1: users, sessions (by token hash only), messages (read ones are kept).
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE
                CHECK (length(username) BETWEEN 1 AND 32 AND username = lower(username)),
            name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
            country TEXT NOT NULL CHECK (length(country) BETWEEN 1 AND 64),
            password_hash TEXT NOT NULL CHECK (password_hash LIKE '$scrypt$%'),
            created_at INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER NOT NULL CHECK (last_used_at >= created_at)
        ) STRICT;
        CREATE INDEX sessions_by_user ON sessions(user_id);

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sender_username TEXT NOT NULL,
            sender_name TEXT NOT NULL,
            recipient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            body TEXT NOT NULL CHECK (length(body) > 0),
            received_at INTEGER NOT NULL,
            read_at INTEGER CHECK (read_at IS NULL OR read_at >= received_at)
        ) STRICT;
        -- Only unread messages are indexed by recipient: an inbox never walks its history.
        CREATE INDEX messages_unread ON messages(recipient_id, id) WHERE read_at IS NULL;
        """
    ]
}
