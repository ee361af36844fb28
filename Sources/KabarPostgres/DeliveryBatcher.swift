import KabarCore
import KabarProtocol
import Logging
import NIOCore
import PostgresNIO

// MARK: - DeliveryBatcher

/// Group commit for sends: the sends that arrive while one group commits are stored
/// together by the next, in one transaction (four statements, whatever its size), so that
/// many senders share each commit and its log flush.
///
/// Each send stays all or nothing: a send with an unknown recipient stores nothing and
/// gets nil, the others in its group are stored. The recipients (and senders) are locked
/// against removal (`FOR KEY SHARE`) before anything is written, so a user removed
/// meanwhile cannot fail the group. Ids come from the one-row `message_ids` table, whose
/// lock is held until commit: ids increase in commit order, across nodes.
final class DeliveryBatcher: Sendable {
    struct Delivery: Sendable {
        var text: String
        var sender: UserRecord
        var recipients: [Username]
        var time: Timestamp
        var origin: Presence.ConnectionID?
        var completion: StoreCompletion<[ChatMessage]?>
    }

    private struct State {
        var waiting: [Delivery] = []
        var isCommitting = false
    }

    static let metrics = StoreMetrics(store: "postgres")

    /// The most sends one transaction stores.
    static let maximumGroup = 1_000

    private let client: PostgresClient
    private let logger: Logger
    private let origins: MessageOrigins
    private let state = Locked(State())

    init(client: PostgresClient, origins: MessageOrigins, logger: Logger) {
        self.client = client
        self.origins = origins
        self.logger = logger
    }

    /// Stores `delivery` with the next group; its completion runs once that group commits.
    func submit(_ delivery: Delivery) {
        let startsGroup = state.withLock { state -> Bool in
            state.waiting.append(delivery)
            guard !state.isCommitting else { return false }
            state.isCommitting = true
            return true
        }
        if startsGroup { Task { await commitWhileWaiting() } }
    }

    /// Commits group after group until nothing waits.
    private func commitWhileWaiting() async {
        while true {
            let group = state.withLock { state -> [Delivery] in
                let group = Array(state.waiting.prefix(Self.maximumGroup))
                state.waiting.removeFirst(group.count)
                if group.isEmpty { state.isCommitting = false }
                return group
            }
            guard !group.isEmpty else { return }
            do {
                let start = ContinuousClock.now
                let stored = try await commit(group)
                Self.metrics.committed(units: group.count, in: ContinuousClock.now - start)
                for (delivery, messages) in zip(group, stored) { delivery.completion(.success(messages)) }
            } catch {
                logger.error("a group of sends failed to commit", metadata: ["sends": "\(group.count)", "error": "\(error)"])
                for delivery in group { delivery.completion(.failure(error)) }
            }
        }
    }

    /// Stores a group in one transaction of one statement: per delivery, its messages, or
    /// nil if a recipient does not exist.
    ///
    /// Three round trips whatever the group's size: `BEGIN`; one statement that locks the
    /// users it names (`FOR KEY SHARE`, so a removal meanwhile cannot fail the group), keeps
    /// the deliveries whose recipients all exist, takes their ids from the counter, inserts
    /// the messages and the conversation rows and notifies the nodes; `COMMIT`, after the
    /// origins are recorded (the nodes' feeds read the messages only after the commit).
    private func commit(_ group: [Delivery]) async throws -> [[ChatMessage]?] {
        let (logger, origins) = (self.logger, self.origins)
        var pairDelivery: [Int64] = []
        var pairRecipient: [String] = []
        for (index, delivery) in group.enumerated() {
            for recipient in delivery.recipients {
                pairDelivery.append(Int64(index + 1))
                pairRecipient.append(recipient.text)
            }
        }
        let names = Array(Set(pairRecipient).union(group.map(\.sender.username.text)))
        let senders = group.map(\.sender.username.text)
        let senderNames = group.map(\.sender.profile.name)
        let bodies = group.map { ByteBuffer(string: $0.text) }
        let times = group.map(\.time.milliseconds)
        return try await client.withTransaction(logger: logger) { connection in
            var stored: [Int64: (id: Int64, recipientName: String)] = [:]
            for try await (pair, id, recipientName) in try await connection.query(
                """
                WITH pairs AS (
                    SELECT p.d, p.r, p.n FROM unnest(\(pairDelivery)::int8[], \(pairRecipient)::text[]) WITH ORDINALITY AS p(d, r, n)
                ), deliveries AS (
                    SELECT * FROM unnest(\(senders)::text[], \(senderNames)::text[], \(bodies)::bytea[], \(times)::int8[])
                        WITH ORDINALITY AS x(sender, sender_name, body, received_at, d)
                ), found AS (
                    SELECT id, username, name FROM users WHERE username = ANY(\(names)::text[]) FOR KEY SHARE
                ), valid AS (
                    SELECT pairs.d FROM pairs LEFT JOIN found ON found.username = pairs.r
                    GROUP BY pairs.d HAVING bool_and(found.id IS NOT NULL)
                ), rows AS (
                    SELECT pairs.n, pairs.d, pairs.r, found.id AS recipient_id, found.name AS recipient_name,
                           row_number() OVER (ORDER BY pairs.n) AS k
                    FROM pairs JOIN valid USING (d) JOIN found ON found.username = pairs.r
                ), counter AS (
                    UPDATE message_ids SET next_id = next_id + (SELECT count(*) FROM rows)
                    RETURNING next_id - (SELECT count(*) FROM rows) AS first
                ), numbered AS (
                    SELECT rows.*, counter.first + rows.k - 1 AS id FROM rows, counter
                ), inserted AS (
                    INSERT INTO messages (id, sender_username, sender_name, recipient_id, body, received_at)
                    SELECT numbered.id, x.sender, x.sender_name, numbered.recipient_id, x.body, x.received_at
                    FROM numbered JOIN deliveries x USING (d)
                ), kept AS (
                    INSERT INTO conversations (user_id, peer_username, last_message_id)
                    SELECT user_id, peer, max(id) FROM (
                        SELECT numbered.recipient_id AS user_id, x.sender AS peer, numbered.id
                        FROM numbered JOIN deliveries x USING (d)
                        UNION ALL
                        SELECT s.id, numbered.r, numbered.id
                        FROM numbered JOIN deliveries x USING (d) JOIN found s ON s.username = x.sender
                    ) sides GROUP BY user_id, peer
                    ON CONFLICT (user_id, peer_username)
                    DO UPDATE SET last_message_id = GREATEST(conversations.last_message_id, excluded.last_message_id)
                )
                SELECT numbered.n, numbered.id, numbered.recipient_name FROM numbered
                UNION ALL
                SELECT 0, 0, '' FROM (SELECT pg_notify(\(PostgresNode.channel), \(PostgresNode.Notice.messages.rawValue))) notified
                WHERE EXISTS (SELECT 1 FROM numbered)
                """,
                logger: logger
            ).decode((Int64, Int64, String).self) where pair > 0 {
                stored[pair] = (id, recipientName)
            }
            // Messages in the order of the pairs, per delivery; a delivery none of whose
            // pairs was stored had an unknown recipient.
            var messages: [[ChatMessage]?] = []
            messages.reserveCapacity(group.count)
            var sentOn: [Int64: Presence.ConnectionID] = [:]
            var pair: Int64 = 0
            for delivery in group {
                var delivered: [ChatMessage]? = []
                for recipient in delivery.recipients {
                    pair += 1
                    guard let (id, recipientName) = stored[pair] else {
                        delivered = nil
                        continue
                    }
                    delivered?.append(
                        ChatMessage(
                            id: id,
                            from: delivery.sender.username.text,
                            to: recipient.text,
                            fromName: delivery.sender.profile.name,
                            toName: recipientName,
                            text: delivery.text,
                            timeMilliseconds: delivery.time.milliseconds
                        )
                    )
                    if let origin = delivery.origin { sentOn[id] = origin }
                }
                messages.append(delivered)
            }
            origins.record(sentOn)
            return messages
        }
    }
}
