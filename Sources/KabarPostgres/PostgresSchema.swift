// MARK: - PostgresSchema

/// Kabar's PostgreSQL schema as migrations, the same data as SQLite's. A shipped migration
/// never changes: new needs get a new entry at the end. Times are milliseconds since 1970.
enum PostgresSchema {
    /// Any number of nodes may migrate at once: each takes this transaction-level advisory
    /// lock first and reads the version only once it holds it.
    static let migrationLock: Int64 = 0x4B41_4241_5201  // "KABAR" 1

    static let migrations: [String] = [
        // 1: users, sessions (by token hash only), messages with ids in commit order, and
        // conversations (one row per user and peer, written with each message).
        """
        CREATE TABLE users (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            username TEXT NOT NULL UNIQUE
                CHECK (length(username) BETWEEN 1 AND 32 AND username = lower(username)),
            name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
            country TEXT NOT NULL CHECK (length(country) BETWEEN 1 AND 64),
            password_hash TEXT NOT NULL CHECK (password_hash LIKE '$scrypt$%'),
            created_at BIGINT NOT NULL
        );

        CREATE TABLE sessions (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT NOT NULL CHECK (last_used_at >= created_at)
        );
        CREATE INDEX sessions_by_user ON sessions(user_id);

        -- One row. A transaction takes its message ids by updating it, which locks the row
        -- until it commits: so ids increase in commit order, across every node.
        CREATE TABLE message_ids (next_id BIGINT NOT NULL);
        INSERT INTO message_ids (next_id) VALUES (1);

        -- The body is bytes (UTF-8), since a TEXT value cannot hold a NUL.
        CREATE TABLE messages (
            id BIGINT PRIMARY KEY,
            sender_username TEXT NOT NULL,
            sender_name TEXT NOT NULL,
            recipient_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            body BYTEA NOT NULL CHECK (length(body) > 0),
            received_at BIGINT NOT NULL,
            read_at BIGINT CHECK (read_at IS NULL OR read_at >= received_at)
        );
        -- Only unread messages are indexed by recipient: an inbox never walks its history.
        CREATE INDEX messages_unread ON messages(recipient_id, id) WHERE read_at IS NULL;
        CREATE INDEX messages_conversation ON messages(recipient_id, sender_username, id);

        CREATE TABLE conversations (
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            peer_username TEXT NOT NULL,
            last_message_id BIGINT NOT NULL,
            PRIMARY KEY (user_id, peer_username)
        );
        CREATE INDEX conversations_by_recency ON conversations(user_id, last_message_id);

        """,
    ]
}
