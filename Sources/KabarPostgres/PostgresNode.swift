import KabarCore
import KabarProtocol
import Logging
import NIOCore
import PostgresNIO

// MARK: - PostgresNode

/// One `kabar-server` process among several on one PostgreSQL database (PROTOCOL.md,
/// "Several nodes"): the database-backed ``NodeCoordination``.
///
/// - Heartbeat: its row in `nodes` is stamped by the database's clock every second; a node
///   whose stamp is older than ``deathAfter`` is dead, and its users are offline.
/// - Presence: the sessions bound on it are written to `node_presence` a moment after each
///   change, and announced; `show` reads the other live nodes' rows and merges them with its
///   own, and so does each node when it hears of a change, to tell its presence subscribers
///   who came online or went offline on the whole server.
/// - Session endings: a logout, a new password or a removed user is written to
///   `session_endings` and announced (NOTIFY); each node forgets those sessions and records
///   how far it has read, and the announcer waits until every live node has.
/// - Live delivery: every commit of messages is announced; the node reads the messages
///   after the last id it published, in id order, and publishes them.
///
/// Notifications only wake it: the heartbeat reads endings and messages too, so one lost
/// (a dropped listening connection) delays them by a second at most and loses nothing.
public final class PostgresNode: OnlineDirectory, SessionEndings, CommitFeed {
    /// The channel of Kabar's notifications; the payload is a ``Notice``.
    static let channel = "kabar"

    enum Notice: String {
        case messages = "m"
        case endings = "e"
        case presence = "p"
    }

    /// How often the heartbeat runs.
    static let heartbeatInterval: Duration = .seconds(1)
    /// A node whose heartbeat is older than this (by the database's clock) is dead.
    static let deathAfter: Duration = .seconds(3)

    public let id: Int64
    private let store: PostgresChatStore
    private let sessionIdleLimit: Duration
    private var client: PostgresClient { store.client }
    private var logger: Logger { store.logger }

    private struct State {
        var handlers: NodeHandlers?
        /// The database's clock minus this node's, in milliseconds, as last measured.
        var clockOffset: Int64 = 0
        var endingsSeen: Int64
        var messagesPublished: Int64
        /// The users online on the other nodes, as last read.
        var remoteOnline: [Int64: UserRecord] = [:]
        /// The users online on the whole server, as last told to the presence subscribers.
        var serverOnline: [Int64: UserRecord] = [:]
        var tasks: [Task<Void, Never>] = []
        var hasLeft = false
    }

    private let state: Locked<State>
    private let presenceSync = SerialPass()
    private let endingsPass = SerialPass()
    private let feedPass = SerialPass()
    private let presencePoll = SerialPass()

    /// Registers a new node and starts its heartbeat and listener.
    public static func join(store: PostgresChatStore, sessionIdleLimit: Duration) async throws -> PostgresNode {
        let logger = store.logger
        let row = try await store.client.query(
            """
            INSERT INTO nodes (started_at, heartbeat_at, endings_seen)
            SELECT \(unescaped: PostgresSchema.now), \(unescaped: PostgresSchema.now), coalesce(max(id), 0) FROM session_endings
            RETURNING id, endings_seen, (SELECT next_id - 1 FROM message_ids)
            """,
            logger: logger
        ).decode((Int64, Int64, Int64).self).first { _ in true }
        guard let (id, endingsSeen, lastMessage) = row else { throw PostgresStoreError.missingRow("INSERT INTO nodes") }
        let node = PostgresNode(id: id, store: store, sessionIdleLimit: sessionIdleLimit, endingsSeen: endingsSeen, lastMessage: lastMessage)
        logger.info("joined as a node", metadata: ["node": "\(id)"])
        return node
    }

    private init(id: Int64, store: PostgresChatStore, sessionIdleLimit: Duration, endingsSeen: Int64, lastMessage: Int64) {
        self.id = id
        self.store = store
        self.sessionIdleLimit = sessionIdleLimit
        self.state = Locked(State(endingsSeen: endingsSeen, messagesPublished: lastMessage))
    }

    /// This node as the service's coordination.
    public func coordination(throttle: AuthThrottle.Configuration) -> NodeCoordination {
        NodeCoordination(
            directory: self,
            sessionEndings: self,
            loginThrottle: PostgresLoginThrottle(store: store, configuration: throttle),
            commitFeed: self
        )
    }

    // MARK: - Starting and leaving

    public func start(_ handlers: NodeHandlers) {
        let startsTasks = state.withLock { state -> Bool in
            guard state.handlers == nil, !state.hasLeft else { return false }
            state.handlers = handlers
            return true
        }
        guard startsTasks else { return }
        let heartbeat = Task { [weak self] in
            while !Task.isCancelled {
                await self?.beat()
                try? await Task.sleep(for: Self.heartbeatInterval)
            }
        }
        let listener = Task { [weak self] in
            while !Task.isCancelled {
                await self?.listen()
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        state.withLock { $0.tasks += [heartbeat, listener] }
    }

    /// Stops the heartbeat and listener and removes the node: its users go offline at once.
    public func leave() async {
        let tasks = state.withLock { state in
            state.hasLeft = true
            defer { state.tasks = [] }
            return state.tasks
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        // Nothing of this node may write while its row goes: a presence write (the server
        // has just closed its connections) locks the node's presence rows and then its row,
        // the delete the other way round, and PostgreSQL ends one of them as a deadlock.
        for pass in [presenceSync, endingsPass, feedPass, presencePoll] { await pass.close() }
        do {
            try await client.query("DELETE FROM nodes WHERE id = \(id)", logger: logger)
            logger.info("left the nodes", metadata: ["node": "\(id)"])
        } catch {
            logger.error("could not remove the node's row", metadata: ["node": "\(id)", "error": "\(String(reflecting: error))"])
        }
    }

    private func beat() async {
        do {
            let before = SystemWallClock().now().milliseconds
            let stamped = try await client.query(
                "UPDATE nodes SET heartbeat_at = \(unescaped: PostgresSchema.now) WHERE id = \(id) RETURNING heartbeat_at",
                logger: logger
            ).decode(Int64.self).first { _ in true }
            let after = SystemWallClock().now().milliseconds
            if let stamped {
                state.withLock { $0.clockOffset = stamped - (before + after) / 2 }
            } else {
                logger.error("this node's row is gone (declared dead by another node?)", metadata: ["node": "\(id)"])
            }
            // Dead nodes' rows, long gone: their presence goes with them.
            try await client.query(
                "DELETE FROM nodes WHERE heartbeat_at < \(unescaped: PostgresSchema.now) - 60000",
                logger: logger
            )
        } catch {
            logger.warning("heartbeat failed", metadata: ["node": "\(id)", "error": "\(error)"])
        }
        endingsPass.trigger { await self.readEndings() }
        feedPass.trigger { await self.readMessages() }
        presenceSync.trigger { await self.syncPresence() }
        presencePoll.trigger { await self.readRemotePresence() }
    }

    private func listen() async {
        do {
            try await client.withConnection { connection in
                try await connection.listen(on: Self.channel) { notifications in
                    // Whatever came while nobody listened.
                    endingsPass.trigger { await self.readEndings() }
                    feedPass.trigger { await self.readMessages() }
                    presencePoll.trigger { await self.readRemotePresence() }
                    for try await notification in notifications {
                        switch Notice(rawValue: notification.payload) {
                        case .messages?: feedPass.trigger { await self.readMessages() }
                        case .endings?: endingsPass.trigger { await self.readEndings() }
                        case .presence?: presencePoll.trigger { await self.readRemotePresence() }
                        case nil: break
                        }
                    }
                }
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("listening for notifications failed", metadata: ["node": "\(id)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Presence

    public func localPresenceChanged(_ changes: [PresenceChange]) {
        presenceSync.trigger { await self.syncPresence() }
        publishServerPresence()
    }

    /// Tells the presence subscribers who came online or went offline on the whole server
    /// since they were last told.
    private func publishServerPresence() {
        guard let handlers = state.withLock({ $0.handlers }) else { return }
        var online = state.withLock { $0.remoteOnline }
        for local in handlers.localOnlineUsers() { online[local.user.id] = local.user }
        let changes = state.withLock { state -> [PresenceChange] in
            let cameOnline = online.filter { state.serverOnline[$0.key] == nil }.values.sorted { $0.id < $1.id }
            let wentOffline = state.serverOnline.filter { online[$0.key] == nil }.values.sorted { $0.id < $1.id }
            state.serverOnline = online
            return cameOnline.map { PresenceChange(user: $0, isOnline: true) } + wentOffline.map { PresenceChange(user: $0, isOnline: false) }
        }
        if !changes.isEmpty { handlers.publishPresence(changes) }
    }

    /// Reads who is online on the other nodes, and tells the subscribers what changed.
    private func readRemotePresence() async {
        do {
            let remote = try await remoteOnlineUsers()
            state.withLock { $0.remoteOnline = remote.mapValues(\.user) }
            publishServerPresence()
        } catch {
            logger.warning("presence of the other nodes not read", metadata: ["node": "\(id)", "error": "\(error)"])
        }
    }

    /// The users online on the other live nodes, with when each came online (the
    /// database's clock).
    private func remoteOnlineUsers() async throws -> [Int64: (user: UserRecord, since: Int64)] {
        let oldestLive = SystemWallClock().now().milliseconds - sessionIdleLimit.wholeMilliseconds
        var online: [Int64: (user: UserRecord, since: Int64)] = [:]
        let rows = try await client.query(
            """
            SELECT u.id, u.username, u.name, u.country, u.password_hash, min(p.online_since)
            FROM node_presence p JOIN nodes n ON n.id = p.node_id
            JOIN sessions s ON s.id = p.session_id JOIN users u ON u.id = p.user_id
            WHERE p.node_id <> \(id) AND n.heartbeat_at >= \(unescaped: PostgresSchema.now) - \(Self.deathAfter.wholeMilliseconds)
              AND s.last_used_at >= \(oldestLive)
            GROUP BY u.id
            """,
            logger: logger
        )
        for try await (userID, username, name, country, hash, since) in rows.decode((Int64, String, String, String, String, Int64).self) {
            guard let username = Username(username), let profile = Profile(name: name, country: country) else { continue }
            online[userID] = (UserRecord(id: userID, username: username, profile: profile, passwordHash: hash), since)
        }
        return online
    }

    /// Writes the sessions bound on this node now; rows of sessions no longer bound go.
    private func syncPresence() async {
        guard let handlers = state.withLock({ $0.handlers }) else { return }
        let offset = state.withLock { $0.clockOffset }
        var sessionIDs: [Int64] = []
        var userIDs: [Int64] = []
        var since: [Int64] = []
        for user in handlers.localOnlineUsers() {
            for session in user.sessionIDs {
                sessionIDs.append(session)
                userIDs.append(user.user.id)
                since.append(user.since.milliseconds + offset)
            }
        }
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "DELETE FROM node_presence WHERE node_id = \(id) AND NOT (session_id = ANY(\(sessionIDs)))",
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO node_presence (node_id, session_id, user_id, online_since)
                    SELECT \(id), * FROM unnest(\(sessionIDs)::int8[], \(userIDs)::int8[], \(since)::int8[])
                    ON CONFLICT (node_id, session_id) DO NOTHING
                    """,
                    logger: logger
                )
                try await connection.query("SELECT pg_notify(\(Self.channel), \(Notice.presence.rawValue))", logger: logger)
            }
        } catch {
            logger.warning("presence not written", metadata: ["node": "\(id)", "error": "\(error)"])
        }
    }

    public func onlineUsers(local: [LocalOnlineUser], completion: @escaping StoreCompletion<[UserRecord]>) {
        let offset = state.withLock { $0.clockOffset }
        Task {
            do {
                var online = try await remoteOnlineUsers()
                for user in local {
                    let since = user.since.milliseconds + offset
                    online[user.user.id] = (user.user, min(since, online[user.user.id]?.since ?? .max))
                }
                completion(.success(online.values.sorted { ($0.since, $0.user.id) < ($1.since, $1.user.id) }.map(\.user)))
            } catch {
                completion(.failure(error))
            }
        }
    }

    // MARK: - Session endings

    public func announce(_ ending: SessionEnding) async throws {
        try await PostgresSessionEndings(store: store, nodeID: id).announce(ending)
    }

    /// Reads the endings announced since the last pass, forgets those sessions, and records
    /// how far it has read.
    private func readEndings() async {
        guard let handlers = state.withLock({ $0.handlers }) else { return }
        let seen = state.withLock { $0.endingsSeen }
        do {
            var last = seen
            for try await (endingID, sessionID, tokenHash, userID) in try await client.query(
                "SELECT id, session_id, token_hash, user_id FROM session_endings WHERE id > \(seen) ORDER BY id",
                logger: logger
            ).decode((Int64, Int64?, ByteBuffer?, Int64?).self) {
                if let userID {
                    handlers.sessionsEnded(.user(id: userID))
                } else if let sessionID, let tokenHash, let hash = TokenHash(bytes: Array(buffer: tokenHash)) {
                    handlers.sessionsEnded(.session(id: sessionID, tokenHash: hash))
                }
                last = endingID
            }
            guard last > seen else { return }
            state.withLock { $0.endingsSeen = last }
            try await client.query("UPDATE nodes SET endings_seen = \(last) WHERE id = \(id)", logger: logger)
        } catch {
            logger.warning("session endings not read", metadata: ["node": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: - Live delivery

    /// Publishes the messages committed since the last pass, in id order.
    private func readMessages() async {
        guard let handlers = state.withLock({ $0.handlers }) else { return }
        do {
            while true {
                let after = state.withLock { $0.messagesPublished }
                let messages = try await PostgresChatStore.messages(
                    client.query(
                        """
                        SELECT \(unescaped: PostgresChatStore.messageColumns) FROM messages m JOIN users r ON r.id = m.recipient_id
                        WHERE m.id > \(after) ORDER BY m.id LIMIT 1000
                        """,
                        logger: logger
                    )
                )
                guard let last = messages.last else { return }
                var run: [ChatMessage] = []
                var runOrigin: Presence.ConnectionID?
                for message in messages {
                    let origin = store.origins.take(message.id)
                    if origin != runOrigin, !run.isEmpty {
                        handlers.publish(run, runOrigin)
                        run = []
                    }
                    runOrigin = origin
                    run.append(message)
                }
                handlers.publish(run, runOrigin)
                state.withLock { $0.messagesPublished = last.id }
                if messages.count < 1000 { return }
            }
        } catch {
            logger.warning("new messages not read", metadata: ["node": "\(id)", "error": "\(error)"])
        }
    }
}
