import KabarCore
import PostgresNIO

// MARK: - PostgresLoginThrottle

/// Failed-`auth` throttling counted in the database, so that attempts on every node add
/// up; the same rules as ``AuthThrottle`` (which is its single-node counterpart).
struct PostgresLoginThrottle: LoginThrottle {
    let store: PostgresChatStore
    let configuration: AuthThrottle.Configuration

    private static func key(username: String) -> String { "u:" + username }
    private static func key(address: String) -> String { "a:" + address }

    func isBlocked(username: String, address: String, at now: Timestamp) async throws -> Bool {
        let keys = [Self.key(username: username), Self.key(address: address)]
        return try await store.client.query(
            "SELECT 1 FROM login_blocks WHERE key = ANY(\(keys)) AND blocked_until > \(now.milliseconds) LIMIT 1",
            logger: store.logger
        ).decode(Int32.self).first { _ in true } != nil
    }

    func recordFailure(username: String, address: String, at now: Timestamp) async throws {
        let (usernameKey, addressKey) = (Self.key(username: username), Self.key(address: address))
        let windowStart = (now - configuration.window).milliseconds
        let blockedUntil = (now + configuration.blockDuration).milliseconds
        let logger = store.logger
        try await store.client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "DELETE FROM login_failures WHERE key = ANY(\([usernameKey, addressKey])) AND failed_at <= \(windowStart)",
                logger: logger
            )
            try await connection.query(
                "INSERT INTO login_failures (key, failed_at) VALUES (\(usernameKey), \(now.milliseconds)), (\(addressKey), \(now.milliseconds))",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO login_blocks (key, blocked_until)
                SELECT key, \(blockedUntil) FROM login_failures WHERE key = ANY(\([usernameKey, addressKey]))
                GROUP BY key
                HAVING count(*) >= CASE WHEN key = \(usernameKey) THEN \(configuration.failuresPerUsername) ELSE \(configuration.failuresPerAddress) END
                ON CONFLICT (key) DO UPDATE SET blocked_until = excluded.blocked_until
                """,
                logger: logger
            )
        }
    }

    func recordSuccess(username: String) async throws {
        try await store.client.query("DELETE FROM login_failures WHERE key = \(Self.key(username: username))", logger: store.logger)
    }
}
