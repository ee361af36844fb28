import KabarProtocol

// MARK: - NodeCoordination

/// What one node of a server shares with the others (PROTOCOL.md, "Several nodes"), each
/// part behind a protocol: the core never knows whether it runs alone or beside other
/// nodes. ``singleNode(throttle:)`` is the in-process version; a shared database provides
/// the other (KabarPostgres's `PostgresNode`).
public struct NodeCoordination: Sendable {
    public var directory: any OnlineDirectory
    public var sessionEndings: any SessionEndings
    public var loginThrottle: any LoginThrottle
    /// Where committed messages come from for live delivery; nil when this node's own
    /// commits are the only ones, and it publishes them itself.
    public var commitFeed: (any CommitFeed)?

    public init(
        directory: any OnlineDirectory,
        sessionEndings: any SessionEndings,
        loginThrottle: any LoginThrottle,
        commitFeed: (any CommitFeed)?
    ) {
        self.directory = directory
        self.sessionEndings = sessionEndings
        self.loginThrottle = loginThrottle
        self.commitFeed = commitFeed
    }

    /// One process, alone: presence, throttling and live delivery in memory.
    public static func singleNode(throttle: AuthThrottle.Configuration = .standard) -> NodeCoordination {
        NodeCoordination(
            directory: LocalOnlineDirectory(),
            sessionEndings: LocalSessionEndings(),
            loginThrottle: LocalLoginThrottle(configuration: throttle),
            commitFeed: nil
        )
    }
}

/// What a node tells its coordination about itself, once, when its service starts.
public struct NodeHandlers: Sendable {
    /// This node's online users now, oldest first.
    public var localOnlineUsers: @Sendable () -> [LocalOnlineUser]
    /// Sessions that ended elsewhere: the node forgets them, unbinds their connections and
    /// ends their subscriptions.
    public var sessionsEnded: @Sendable (SessionEnding) -> Void
    /// Messages committed by any node, in id order, for the live subscriptions.
    public var publish: @Sendable (_ messages: [ChatMessage], _ sentFrom: Presence.ConnectionID?) -> Void
    /// Users who came online or went offline on the whole server, for the subscriptions
    /// that asked for presence.
    public var publishPresence: @Sendable ([PresenceChange]) -> Void
}

// MARK: - Presence across nodes

/// A user online on this node.
public struct LocalOnlineUser: Hashable, Sendable {
    public var user: UserRecord
    /// When the user came online here, by this node's clock.
    public var since: Timestamp
    /// The sessions keeping the user online here.
    public var sessionIDs: [Int64]
}

/// Who is online on any node.
public protocol OnlineDirectory: Sendable {
    /// Starts keeping the other nodes informed of `handlers.localOnlineUsers()`, and this
    /// node's subscriptions of the users coming and going on the others.
    func start(_ handlers: NodeHandlers)
    /// This node's bindings changed, and `changes` are the users who came online or went
    /// offline here: the directory publishes those that came online or went offline on the
    /// whole server (``NodeHandlers/publishPresence``), and the other nodes see the change
    /// within 2 seconds.
    func localPresenceChanged(_ changes: [PresenceChange])
    /// Everyone online on any node, each once, in the order they came online: `local`
    /// (this node's users with live sessions) merged with the other nodes' users.
    func onlineUsers(local: [LocalOnlineUser], completion: @escaping StoreCompletion<[UserRecord]>)
}

/// One node alone: its own users are everyone.
public final class LocalOnlineDirectory: OnlineDirectory {
    private let handlers = Locked<NodeHandlers?>(nil)

    public init() {}

    public func start(_ handlers: NodeHandlers) {
        self.handlers.withLock { $0 = handlers }
    }

    public func localPresenceChanged(_ changes: [PresenceChange]) {
        guard !changes.isEmpty else { return }
        handlers.withLock { $0 }?.publishPresence(changes)
    }

    public func onlineUsers(local: [LocalOnlineUser], completion: @escaping StoreCompletion<[UserRecord]>) {
        completion(.success(local.map(\.user)))
    }
}

// MARK: - Sessions ended elsewhere

/// Sessions that no node may accept any more.
public enum SessionEnding: Hashable, Sendable {
    /// One session (a logout).
    case session(id: Int64, tokenHash: TokenHash)
    /// Every session of a user (a new password, the user removed).
    case user(id: Int64)
}

/// Makes an ended session unusable on every node at once.
public protocol SessionEndings: Sendable {
    /// Starts handing endings announced elsewhere to `handlers.sessionsEnded`.
    func start(_ handlers: NodeHandlers)
    /// Tells every other node, and returns once each live one has forgotten the sessions:
    /// after this, no node accepts them. (The store has already ended them.)
    func announce(_ ending: SessionEnding) async throws
}

/// One node alone: nobody else to tell.
public struct LocalSessionEndings: SessionEndings {
    public init() {}
    public func start(_ handlers: NodeHandlers) {}
    public func announce(_ ending: SessionEnding) async throws {}
}

// MARK: - Failed logins

/// Failed-`auth` throttling, counted over every node (PROTOCOL.md, "Limits and bad input").
public protocol LoginThrottle: Sendable {
    func isBlocked(username: String, address: String, at now: Timestamp) async throws -> Bool
    func recordFailure(username: String, address: String, at now: Timestamp) async throws
    func recordSuccess(username: String) async throws
}

/// One node alone: ``AuthThrottle`` in memory.
public final class LocalLoginThrottle: LoginThrottle {
    private let throttle: Locked<AuthThrottle>

    public init(configuration: AuthThrottle.Configuration) {
        throttle = Locked(AuthThrottle(configuration: configuration))
    }

    public func isBlocked(username: String, address: String, at now: Timestamp) -> Bool {
        throttle.withLock { $0.isBlocked(username: username, address: address, at: now) }
    }

    public func recordFailure(username: String, address: String, at now: Timestamp) {
        throttle.withLock { $0.recordFailure(username: username, address: address, at: now) }
    }

    public func recordSuccess(username: String) {
        throttle.withLock { $0.recordSuccess(username: username) }
    }
}

// MARK: - Committed messages

/// Every message committed by any node, in id order, for live delivery.
public protocol CommitFeed: Sendable {
    /// Starts handing committed messages to `handlers.publish`, each once, in id order.
    func start(_ handlers: NodeHandlers)
}
