import KabarCore
import Logging
import NIOCore
import PostgresNIO

// MARK: - PostgresSessionEndings

/// Announces ended sessions to every node and waits until each live one has read them:
/// used by the nodes themselves (a logout) and by `kabar-server user` (a new password, a
/// removed user), which is not a node.
struct PostgresSessionEndings: SessionEndings {
    let store: PostgresChatStore
    /// The announcing node, which need not wait for itself; nil for a command.
    let nodeID: Int64?
    /// The longest it waits for the nodes: past it, a node that has not read the ending is
    /// about to be declared dead anyway.
    static let patience: Duration = .seconds(5)

    func start(_ handlers: NodeHandlers) {}

    func announce(_ ending: SessionEnding) async throws {
        let (client, logger) = (store.client, store.logger)
        let sessionID: Int64?, tokenHash: ByteBuffer?, userID: Int64?
        switch ending {
        case .session(let id, let hash): (sessionID, tokenHash, userID) = (id, ByteBuffer(bytes: hash.bytes), nil)
        case .user(let id): (sessionID, tokenHash, userID) = (nil, nil, id)
        }
        guard
            let endingID = try await client.query(
                """
                WITH ending AS (
                    INSERT INTO session_endings (session_id, token_hash, user_id, ended_at)
                    VALUES (\(sessionID), \(tokenHash), \(userID), \(unescaped: PostgresSchema.now)) RETURNING id
                )
                SELECT id FROM ending, pg_notify(\(PostgresNode.channel), \(PostgresNode.Notice.endings.rawValue))
                """,
                logger: logger
            ).decode(Int64.self).first(where: { _ in true })
        else { throw PostgresStoreError.missingRow("INSERT INTO session_endings") }
        let deadline = ContinuousClock.now + Self.patience
        while ContinuousClock.now < deadline {
            let behind = try await client.query(
                """
                SELECT count(*) FROM nodes
                WHERE id <> \(nodeID ?? -1) AND endings_seen < \(endingID)
                  AND heartbeat_at >= \(unescaped: PostgresSchema.now) - \(PostgresNode.deathAfter.wholeMilliseconds)
                """,
                logger: logger
            ).decode(Int64.self).first { _ in true } ?? 0
            if behind == 0 { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        logger.warning("a node did not confirm a session ending in time", metadata: ["ending": "\(endingID)"])
    }
}
