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

    /// Stores a group in one transaction: per delivery, its messages, or nil if a
    /// recipient does not exist.
    private func commit(_ group: [Delivery]) async throws -> [[ChatMessage]?] {
        let (logger, origins) = (self.logger, self.origins)
        return try await client.withTransaction(logger: logger) { connection in
            var names = Set(group.flatMap { $0.recipients.map(\.text) })
            names.formUnion(group.map(\.sender.username.text))
            var users: [String: (id: Int64, name: String)] = [:]
            for try await (id, username, name) in try await connection.query(
                "SELECT id, username, name FROM users WHERE username = ANY(\(Array(names))) FOR KEY SHARE",
                logger: logger
            ).decode((Int64, String, String).self) {
                users[username] = (id, name)
            }
            let plans: [[(username: String, id: Int64, name: String)]?] = group.map { delivery in
                var found: [(username: String, id: Int64, name: String)] = []
                for recipient in delivery.recipients {
                    guard let user = users[recipient.text] else { return nil }
                    found.append((recipient.text, user.id, user.name))
                }
                return found
            }
            let count = Int64(plans.reduce(0) { $0 + ($1?.count ?? 0) })
            guard count > 0 else { return plans.map { _ in nil } }
            guard
                var nextID = try await connection.query(
                    "UPDATE message_ids SET next_id = next_id + \(count) RETURNING next_id - \(count)",
                    logger: logger
                ).decode(Int64.self).first(where: { _ in true })
            else { throw PostgresStoreError.missingRow("UPDATE message_ids") }

            var columns = MessageColumns(capacity: Int(count))
            var conversations: [ConversationKey: Int64] = [:]
            var stored: [[ChatMessage]?] = []
            stored.reserveCapacity(group.count)
            var sentOn: [Int64: Presence.ConnectionID] = [:]
            for (delivery, plan) in zip(group, plans) {
                guard let plan else {
                    stored.append(nil)
                    continue
                }
                let sender = delivery.sender
                let senderID = users[sender.username.text]?.id
                var messages: [ChatMessage] = []
                messages.reserveCapacity(plan.count)
                for recipient in plan {
                    let message = ChatMessage(
                        id: nextID,
                        from: sender.username.text,
                        to: recipient.username,
                        fromName: sender.profile.name,
                        toName: recipient.name,
                        text: delivery.text,
                        timeMilliseconds: delivery.time.milliseconds
                    )
                    columns.append(message, recipientID: recipient.id)
                    if let origin = delivery.origin { sentOn[message.id] = origin }
                    conversations[ConversationKey(userID: recipient.id, peer: sender.username.text)] = nextID
                    // A sender removed meanwhile has no conversations left to keep.
                    if let senderID { conversations[ConversationKey(userID: senderID, peer: recipient.username)] = nextID }
                    messages.append(message)
                    nextID += 1
                }
                stored.append(messages)
            }
            try await connection.query(
                """
                INSERT INTO messages (id, sender_username, sender_name, recipient_id, body, received_at)
                SELECT * FROM unnest(\(columns.ids)::int8[], \(columns.senders)::text[], \(columns.senderNames)::text[],
                                     \(columns.recipientIDs)::int8[], \(columns.bodies)::bytea[], \(columns.times)::int8[])
                """,
                logger: logger
            )
            // The notification goes out with the commit: every node's feed then reads the new
            // messages. The origins are known before it can.
            let keys = Array(conversations.keys)
            try await connection.query(
                """
                WITH kept AS (
                    INSERT INTO conversations (user_id, peer_username, last_message_id)
                    SELECT * FROM unnest(\(keys.map(\.userID))::int8[], \(keys.map(\.peer))::text[], \(keys.map { conversations[$0]! })::int8[])
                    ON CONFLICT (user_id, peer_username)
                    DO UPDATE SET last_message_id = GREATEST(conversations.last_message_id, excluded.last_message_id)
                )
                SELECT pg_notify(\(PostgresNode.channel), \(PostgresNode.Notice.messages.rawValue))
                """,
                logger: logger
            )
            origins.record(sentOn)
            return stored
        }
    }
}

/// One conversation row: a user and the peer they exchanged a message with.
private struct ConversationKey: Hashable {
    var userID: Int64
    var peer: String
}

/// A group's messages as one array per column, for one `INSERT … SELECT FROM unnest(…)`.
private struct MessageColumns {
    var ids: [Int64] = []
    var senders: [String] = []
    var senderNames: [String] = []
    var recipientIDs: [Int64] = []
    var bodies: [ByteBuffer] = []
    var times: [Int64] = []

    init(capacity: Int) {
        ids.reserveCapacity(capacity)
        senders.reserveCapacity(capacity)
        senderNames.reserveCapacity(capacity)
        recipientIDs.reserveCapacity(capacity)
        bodies.reserveCapacity(capacity)
        times.reserveCapacity(capacity)
    }

    mutating func append(_ message: ChatMessage, recipientID: Int64) {
        ids.append(message.id)
        senders.append(message.from)
        senderNames.append(message.fromName)
        recipientIDs.append(recipientID)
        bodies.append(ByteBuffer(string: message.text))
        times.append(message.timeMilliseconds)
    }
}
