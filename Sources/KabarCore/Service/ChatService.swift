import KabarProtocol

// MARK: - ChatService

/// The chat domain: accounts, sessions, messages and presence, over any ``ChatStore``.
///
/// Methods throw ``Refusal`` for what the client did wrong; any other error is an
/// infrastructure failure (the store, the hashing pool) that the caller logs.
/// PROTOCOL.md fixes the order of checks: the request's shape (the parser), then the
/// session, then the command's own checks.
public final class ChatService: Sendable {
    public let store: any ChatStore
    public let presence: Presence
    /// The subscriptions, and the fan-out of committed messages to them.
    public let live = LiveDelivery()
    public let configuration: ChatServiceConfiguration
    /// What this node shares with the other nodes of the server, if there are any.
    public let coordination: NodeCoordination
    let hasher: ScryptPasswordHasher
    let clock: any WallClock
    let sessionCache = SessionCache()
    private let nextConnectionID = Locked<Presence.ConnectionID>(1)

    /// - Parameter coordination: how this node works with the other nodes of one server;
    ///   alone (``NodeCoordination/singleNode(throttle:)``) by default.
    public init(
        store: any ChatStore,
        hasher: ScryptPasswordHasher,
        configuration: ChatServiceConfiguration = ChatServiceConfiguration(),
        clock: any WallClock = SystemWallClock(),
        coordination: NodeCoordination? = nil
    ) {
        self.store = store
        self.hasher = hasher
        self.configuration = configuration
        self.clock = clock
        self.presence = Presence()
        self.coordination = coordination ?? .singleNode(throttle: configuration.authThrottle)
        let handlers = NodeHandlers(
            localOnlineUsers: { [presence] in
                presence.onlineEntries().map { LocalOnlineUser(user: $0.user, since: $0.since, sessionIDs: $0.sessionIDs) }
            },
            sessionsEnded: { [weak self] ending in self?.forgetEnded(ending) },
            publish: { [live] messages, origin in live.publish(messages, sentFrom: origin) },
            publishPresence: { [live] changes in live.publish(changes) }
        )
        self.coordination.directory.start(handlers)
        self.coordination.sessionEndings.start(handlers)
        self.coordination.commitFeed?.start(handlers)
    }

    // MARK: - Accounts

    /// Creates an account. - Throws: ``Refusal/invalidPassword`` or ``Refusal/userExists``.
    public func createUser(_ username: Username, password: String, profile: Profile) async throws {
        guard let password = Password(password) else { throw Refusal.invalidPassword }
        if try await store.user(named: username) != nil { throw Refusal.userExists }
        let hash = try await hasher.hash(password.text)
        guard try await store.insertUser(NewUser(username: username, profile: profile, passwordHash: hash)) else {
            throw Refusal.userExists
        }
    }

    /// Replaces a user's password; their sessions end. - Returns: false if there is no such user.
    public func changePassword(of username: Username, to password: String) async throws -> Bool {
        guard let password = Password(password) else { throw Refusal.invalidPassword }
        let hash = try await hasher.hash(password.text)
        guard let user = try await store.user(named: username),
            try await store.replacePasswordHash(of: username, with: hash)
        else { return false }
        try await endEverywhere(.user(id: user.id))
        return true
    }

    /// Removes a user, their sessions and their inbox. - Returns: false if there is no such user.
    public func removeUser(named username: Username) async throws -> Bool {
        guard let user = try await store.user(named: username), try await store.removeUser(named: username) else {
            return false
        }
        try await endEverywhere(.user(id: user.id))
        return true
    }

    /// `register USERNAME PASSWORD NAME COUNTRY`.
    func register(username: String, password: String, name: String, country: String) async throws {
        guard configuration.isRegistrationOpen else { throw Refusal.registrationClosed }
        guard let username = Username(username) else { throw Refusal.invalidUsername }
        guard Password(password) != nil else { throw Refusal.invalidPassword }
        guard let profile = Profile(name: name, country: country) else { throw Refusal.invalidProfile }
        try await createUser(username, password: password, profile: profile)
    }

    // MARK: - Authentication

    /// `auth USERNAME PASSWORD`: checks the throttle, the user and the password, then
    /// starts a new session.
    func authenticate(username: String, password: String, from address: String) async throws
        -> (SessionToken, SessionRecord)
    {
        let throttle = coordination.loginThrottle
        guard try await !throttle.isBlocked(username: username, address: address, at: clock.now()) else {
            throw Refusal.tooManyAttempts
        }
        guard let name = Username(username), let user = try await store.user(named: name) else {
            try await throttle.recordFailure(username: username, address: address, at: clock.now())
            throw Refusal.unknownUser
        }
        guard try await hasher.verify(password, against: user.passwordHash) else {
            try await throttle.recordFailure(username: username, address: address, at: clock.now())
            throw Refusal.wrongPassword
        }
        try await throttle.recordSuccess(username: username)
        let token = SessionToken.random()
        let sessionID = try await store.insertSession(tokenHash: TokenHash(token), userID: user.id, at: clock.now())
        return (token, SessionRecord(id: sessionID, user: user))
    }

    // MARK: - Messages

    /// `send`: stores `text` for every recipient, or for none.
    ///
    /// The checks that need no store are made now and throw their refusal; the delivery
    /// is handed to the store at once, and `completion` gets its outcome on the store's
    /// thread. Once the messages are durable they are published to the subscriptions,
    /// before `completion` runs (by the ``CommitFeed`` instead, when there is one).
    ///
    /// - Parameter connection: the connection it was sent on, which gets no `sent` event.
    func send(
        _ text: String,
        from sender: UserRecord,
        to recipientNames: [String],
        on connection: Presence.ConnectionID,
        completion: @escaping StoreCompletion<Void>
    ) throws(Refusal) {
        let recipients = try validRecipients(for: text, named: recipientNames)
        let publishesItself = coordination.commitFeed == nil
        store.deliver(text, from: sender, to: recipients, at: clock.now(), origin: connection) { result in
            guard case .success(let messages?) = result else {
                return completion(result.flatMap { _ in .failure(Refusal.recipientNotFound) })
            }
            if publishesItself { self.live.publish(messages, sentFrom: connection) }
            completion(.success(()))
        }
    }

    /// A connection's pipelined `send`s, stored as one unit of store work: each is checked
    /// and stored, all or nothing, as ``send(_:from:to:on:completion:)`` does it alone.
    /// `completion` gets each one's outcome in order (a refusal for one that failed its
    /// checks), on the store's thread, after the messages stored are published.
    func send(_ burst: SendBurst, on connection: Presence.ConnectionID, completion: @escaping @Sendable ([Result<Void, any Error>]) -> Void) {
        // nil: the store's outcome, in the order of `messages`.
        var checked: [Refusal?] = []
        var messages: [OutgoingMessage] = []
        checked.reserveCapacity(burst.count)
        messages.reserveCapacity(burst.count)
        for entry in burst.entries {
            do throws(Refusal) {
                let recipients = try validRecipients(for: entry.text, named: entry.recipientNames)
                messages.append(OutgoingMessage(text: entry.text, sender: entry.session.user, recipients: recipients, origin: connection))
                checked.append(nil)
            } catch {
                checked.append(error)
            }
        }
        guard !messages.isEmpty else { return completion(checked.map { .failure($0!) }) }
        let publishesItself = coordination.commitFeed == nil
        store.deliver(messages, at: clock.now()) { [checked] result in
            // Asked once the messages are committed, under the lock a subscription takes: a
            // connection that subscribes after this would not be told by the publish either,
            // and reads what is unread in its replay. (Gathering the messages for nobody cost
            // a busy server about a sixth of its flusher thread.)
            let publishing = publishesItself && self.live.hasSubscribers
            var stored: [ChatMessage] = []
            let outcomes: [Result<Void, any Error>]
            switch result {
            case .failure(let error):
                outcomes = checked.map { .failure($0 ?? error) }
            case .success(let delivered):
                var next = delivered.makeIterator()
                outcomes = checked.map { refusal in
                    if let refusal { return .failure(refusal) }
                    switch next.next() {
                    case .success(let messages?)?:
                        if publishing { stored += messages }
                        return .success(())
                    case .success(nil)?: return .failure(Refusal.recipientNotFound)
                    case .failure(let error)?: return .failure(error)
                    case nil: return .failure(MissingDeliveryOutcome())
                    }
                }
            }
            if publishing, !stored.isEmpty { self.live.publish(stored, sentFrom: connection) }
            completion(outcomes)
        }
    }

    /// The distinct recipients of a message, checked in the order PROTOCOL.md gives.
    private func validRecipients(for text: String, named names: [String]) throws(Refusal) -> [Username] {
        guard !text.isEmpty else { throw .emptyMessage }
        var seen = Set<String>()
        let distinctNames = names.count == 1 ? names : names.filter { seen.insert($0).inserted }
        guard distinctNames.count <= configuration.maximumRecipients else { throw .tooManyRecipients }
        var recipients: [Username] = []
        for name in distinctNames {
            guard let username = Username(name) else { throw .recipientNotFound }
            recipients.append(username)
        }
        return recipients
    }

    /// `inbox`: the unread messages, grouped by sender in the order of each sender's
    /// earliest message; they are marked read. `completion` runs on the store's thread.
    func takeInbox(for user: UserRecord, completion: @escaping StoreCompletion<[InboxGroup]>) {
        store.takeUnreadMessages(for: user.id, at: clock.now()) { completion($0.map(Self.groupedBySender)) }
    }

    private static func groupedBySender(_ messages: [ChatMessage]) -> [InboxGroup] {
        var groups: [InboxGroup] = []
        var groupIndex: [String: Int] = [:]
        for message in messages {
            let entry = InboxMessage(fromName: message.fromName, toName: message.toName, text: message.text)
            if let index = groupIndex[message.from] {
                groups[index].messages.append(entry)
            } else {
                groupIndex[message.from] = groups.count
                groups.append(InboxGroup(sender: message.from, messages: [entry]))
            }
        }
        return groups
    }

    // MARK: - Presence

    /// `show`: the users online now. Bindings to sessions that ended elsewhere (logout
    /// on another node, expiry, a removed user) are dropped on the way. `completion` runs
    /// on the store's thread.
    func onlineUsers(completion: @escaping StoreCompletion<[OnlineUser]>) {
        let entries = presence.onlineEntries()
        let sessionIDs = entries.flatMap(\.sessionIDs)
        let directory = coordination.directory
        store.liveSessionIDs(among: sessionIDs, at: clock.now(), idleLimit: configuration.sessionIdleLimit) { result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let live):
                self.presenceChanged(self.presence.unbindSessions(Set(sessionIDs).subtracting(live)))
                let local = entries.filter { $0.sessionIDs.contains(where: live.contains) }.map {
                    LocalOnlineUser(user: $0.user, since: $0.since, sessionIDs: $0.sessionIDs)
                }
                directory.onlineUsers(local: local) { result in
                    completion(result.map { users in
                        users.map { OnlineUser(username: $0.username.text, name: $0.profile.name, country: $0.profile.country) }
                    })
                }
            }
        }
    }

    /// Tells the subscriptions and the other nodes that this node's presence changed.
    func presenceChanged(_ changes: [PresenceChange]) {
        coordination.directory.localPresenceChanged(changes)
    }

    /// The state of a new client connection (of any front end), with an id of its own.
    public func newConnection(clientAddress: String) -> ConnectionContext {
        let id = nextConnectionID.withLock { id in
            defer { id += 1 }
            return id
        }
        return ConnectionContext(id: id, clientAddress: clientAddress, lane: RequestLane(runsInCallOrder: store.runsInCallOrder))
    }

    /// Forgets a closed connection: its binding and its subscription.
    public func connectionClosed(_ connection: ConnectionContext) {
        live.unsubscribe(connection.id)
        presenceChanged(presence.unbind(connection.id))
    }

    // MARK: - Live delivery

    /// `subscribe`: registers `sink` for the session's user at once, so that nothing
    /// committed from now on is missed, then reads what is unread. The sink gets the replay
    /// (``LiveEventSink/begin(replay:)``) before `completion` gets the unread count, both on
    /// the store's thread.
    func subscribe(
        _ connection: Presence.ConnectionID,
        session: SessionRecord,
        presence: Bool,
        sink: any LiveEventSink,
        completion: @escaping StoreCompletion<Int>
    ) {
        live.subscribe(connection, session: session, presence: presence, sink: sink)
        store.unreadMessages(for: session.user.id) { result in
            if case .success(let snapshot) = result { sink.begin(replay: snapshot) }
            completion(result.map(\.messages.count))
        }
    }

    /// `unsubscribe`, or a connection's subscription ending for another reason (a new
    /// `auth` on it).
    func unsubscribe(_ connection: Presence.ConnectionID) {
        live.unsubscribe(connection)
    }

    /// `ack`: marks the listed messages to the session's user read.
    ///
    /// - Throws: ``Refusal/malformedRequest`` for an id list that is not 1 to 1,000
    ///   positive decimal numbers joined by single commas.
    func acknowledge(_ idList: String, for user: UserRecord, completion: @escaping StoreCompletion<Int>) throws(Refusal) {
        guard let ids = MessageIDList.parse(idList) else { throw .malformedRequest }
        store.markRead(ids, for: user.id, at: clock.now(), completion: completion)
    }

    /// The most messages one `history` returns, and how many when LIMIT is not given.
    static let historyLimits = (default: 50, range: 1...500)

    /// `history`: a page of the conversation between `user` and `peer`, oldest first.
    ///
    /// - Throws: ``Refusal/malformedRequest`` for a LIMIT outside 1...500 or a BEFORE_ID that
    ///   is not a positive number (checked first: they need no store);
    ///   ``Refusal/recipientNotFound`` (`User Tidak Ditemukan`) for an unknown user, through
    ///   `completion` when only the store can tell.
    func history(
        of user: UserRecord,
        with peer: String,
        limit limitText: String?,
        beforeID beforeText: String?,
        completion: @escaping StoreCompletion<[HistoryEntry]>
    ) throws(Refusal) {
        let limit = limitText.map(MessageIDList.number) ?? Int64(Self.historyLimits.default)
        guard let limit, Self.historyLimits.range.contains(Int(clamping: limit)) else { throw .malformedRequest }
        let beforeID = beforeText.map(MessageIDList.number)
        if let beforeID, beforeID == nil { throw .malformedRequest }
        guard let peerName = Username(peer) else { throw .recipientNotFound }
        store.history(of: user, with: peerName, limit: Int(limit), before: beforeID ?? nil) { result in
            completion(result.flatMap { $0.map { .success($0) } ?? .failure(Refusal.recipientNotFound) })
        }
    }

    /// `conversations`: one summary per peer, the most recent first.
    func conversations(of user: UserRecord, completion: @escaping StoreCompletion<[ConversationSummary]>) {
        store.conversations(of: user, completion: completion)
    }
}

/// A store answered a burst of deliveries with fewer outcomes than it was given messages.
struct MissingDeliveryOutcome: Error, CustomStringConvertible {
    var description: String { "the store gave no outcome for a message of a burst" }
}
