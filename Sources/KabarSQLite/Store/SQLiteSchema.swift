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
        """,
        // 2: conversations. `history` reads each direction of a conversation newest first
        // from `messages_conversation`; `conversations` reads one row per peer, kept by a
        // trigger inside the INSERT of each message (so a send is still one statement).
        """
        CREATE INDEX messages_conversation ON messages(recipient_id, sender_username, id);

        CREATE TABLE conversations (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            peer_username TEXT NOT NULL,
            last_message_id INTEGER NOT NULL,
            PRIMARY KEY (user_id, peer_username)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX conversations_by_recency ON conversations(user_id, last_message_id);

        INSERT INTO conversations (user_id, peer_username, last_message_id)
            SELECT recipient_id, sender_username, max(id) FROM messages GROUP BY recipient_id, sender_username
            ON CONFLICT (user_id, peer_username) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id);
        INSERT INTO conversations (user_id, peer_username, last_message_id)
            SELECT s.id, r.username, max(m.id) FROM messages m
            JOIN users s ON s.username = m.sender_username JOIN users r ON r.id = m.recipient_id
            GROUP BY s.id, r.username
            ON CONFLICT (user_id, peer_username) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id);

        CREATE TRIGGER messages_keep_conversations AFTER INSERT ON messages BEGIN
            INSERT INTO conversations (user_id, peer_username, last_message_id)
                VALUES (NEW.recipient_id, NEW.sender_username, NEW.id)
                ON CONFLICT (user_id, peer_username) DO UPDATE SET last_message_id = excluded.last_message_id;
            INSERT INTO conversations (user_id, peer_username, last_message_id)
                SELECT s.id, r.username, NEW.id FROM users s, users r
                WHERE s.username = NEW.sender_username AND r.id = NEW.recipient_id
                ON CONFLICT (user_id, peer_username) DO UPDATE SET last_message_id = excluded.last_message_id;
        END;
        """,
        // 3: a conversation's last message is looked up when `conversations` asks for it,
        // no longer kept up to date by every send. Keeping it cost each message two
        // upserts, each moving an entry of `conversations_by_recency`, and a statement
        // journal (BENCHMARKS.md, "Issue 14"). What is kept now is who talked to whom,
        // `conversation_peers`; the store adds a pair once per batch of sends that has it
        // (a send leaves its two `INSERT OR IGNORE`s for the end of its batch, see
        // `DeferredStatements`), so a message costs its row and its two index entries.
        // Each direction's last message is the end of its range of `messages_conversation`.
        """
        DROP TRIGGER messages_keep_conversations;
        CREATE TABLE conversation_peers (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            peer_username TEXT NOT NULL,
            PRIMARY KEY (user_id, peer_username)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO conversation_peers (user_id, peer_username) SELECT user_id, peer_username FROM conversations;
        DROP TABLE conversations;
        """,
        // 4: message ids without AUTOINCREMENT, which read and rewrote a row of
        // `sqlite_sequence` in every INSERT. The store gives each message its id
        // (`MessageIDs`): above the highest in `messages` and above `message_id_floor`,
        // which every deleted message raises to its own id, so no id is given twice. The
        // floor starts where `sqlite_sequence` was. (SQLite cannot drop AUTOINCREMENT from
        // a table: the messages move to a new one, with the same ids.)
        """
        CREATE TABLE message_id_floor (id INTEGER NOT NULL) STRICT;
        INSERT INTO message_id_floor (id)
            VALUES (coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0));

        CREATE TABLE messages_without_autoincrement (
            id INTEGER PRIMARY KEY,
            sender_username TEXT NOT NULL,
            sender_name TEXT NOT NULL,
            recipient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            body TEXT NOT NULL CHECK (length(body) > 0),
            received_at INTEGER NOT NULL,
            read_at INTEGER CHECK (read_at IS NULL OR read_at >= received_at)
        ) STRICT;
        INSERT INTO messages_without_autoincrement (id, sender_username, sender_name, recipient_id, body, received_at, read_at)
            SELECT id, sender_username, sender_name, recipient_id, body, received_at, read_at FROM messages;
        DROP TABLE messages;
        ALTER TABLE messages_without_autoincrement RENAME TO messages;
        CREATE INDEX messages_unread ON messages(recipient_id, id) WHERE read_at IS NULL;
        CREATE INDEX messages_conversation ON messages(recipient_id, sender_username, id);

        CREATE TRIGGER messages_raise_id_floor AFTER DELETE ON messages BEGIN
            UPDATE message_id_floor SET id = OLD.id WHERE id < OLD.id;
        END;
        """,
        // 5: no index of unread messages. Its entry was a third of what storing a message
        // costs SQLite (BENCHMARKS.md, "a twelfth look"). A user's unread messages are found
        // in each of their conversations' ranges of `messages_conversation` instead, from
        // `unread_from`: no message to `user_id` from `peer_username` below it is unread.
        // An inbox read moves it past everything it read; an ack, past the read messages at
        // the start of the range. Every unread message has its conversation row (the store
        // records one with each send; the first statement makes sure of older files).
        """
        INSERT OR IGNORE INTO conversation_peers (user_id, peer_username)
            SELECT DISTINCT recipient_id, sender_username FROM messages WHERE read_at IS NULL;
        ALTER TABLE conversation_peers ADD COLUMN unread_from INTEGER NOT NULL DEFAULT 0;
        UPDATE conversation_peers SET unread_from = coalesce(
            (SELECT min(m.id) FROM messages m
                WHERE m.recipient_id = conversation_peers.user_id AND m.sender_username = conversation_peers.peer_username
                AND m.read_at IS NULL),
            (SELECT max(m.id) + 1 FROM messages m
                WHERE m.recipient_id = conversation_peers.user_id AND m.sender_username = conversation_peers.peer_username),
            0);
        DROP INDEX messages_unread;
        """,
    ]
}
