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
        // 2: several nodes. Each node has a row (its heartbeat, by the database's clock),
        // the sessions bound on it, and how far it has read the session endings; failed
        // logins are counted here for all nodes together.
        """
        CREATE TABLE nodes (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            started_at BIGINT NOT NULL,
            heartbeat_at BIGINT NOT NULL,
            endings_seen BIGINT NOT NULL
        );

        CREATE TABLE node_presence (
            node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            session_id BIGINT NOT NULL,
            user_id BIGINT NOT NULL,
            online_since BIGINT NOT NULL,
            PRIMARY KEY (node_id, session_id)
        );

        CREATE TABLE session_endings (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            session_id BIGINT,
            token_hash BYTEA,
            user_id BIGINT,
            ended_at BIGINT NOT NULL,
            CHECK ((session_id IS NOT NULL AND token_hash IS NOT NULL) OR user_id IS NOT NULL)
        );

        CREATE TABLE login_failures (
            key TEXT NOT NULL,
            failed_at BIGINT NOT NULL
        );
        CREATE INDEX login_failures_by_key ON login_failures(key, failed_at);

        CREATE TABLE login_blocks (
            key TEXT PRIMARY KEY,
            blocked_until BIGINT NOT NULL
        );

        """,
    ]

    /// The database's clock, in milliseconds since 1970.
    static let now = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
}
