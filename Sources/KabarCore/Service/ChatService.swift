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
    public let configuration: ChatServiceConfiguration
    let hasher: ScryptPasswordHasher
    let clock: any WallClock
    let throttle: Locked<AuthThrottle>
    let sessionCache = SessionCache()

    public init(
        store: any ChatStore,
        hasher: ScryptPasswordHasher,
        configuration: ChatServiceConfiguration = ChatServiceConfiguration(),
        clock: any WallClock = SystemWallClock()
    ) {
        self.store = store
        self.hasher = hasher
        self.configuration = configuration
        self.clock = clock
        self.presence = Presence()
        self.throttle = Locked(AuthThrottle(configuration: configuration.authThrottle))
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
        return try await store.replacePasswordHash(of: username, with: hash)
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
        let now = clock.now()
        guard !throttle.withLock({ $0.isBlocked(username: username, address: address, at: now) }) else {
            throw Refusal.tooManyAttempts
        }
        guard let name = Username(username), let user = try await store.user(named: name) else {
            recordFailedAuth(username: username, address: address)
            throw Refusal.unknownUser
        }
        guard try await hasher.verify(password, against: user.passwordHash) else {
            recordFailedAuth(username: username, address: address)
            throw Refusal.wrongPassword
        }
        throttle.withLock { $0.recordSuccess(username: username) }
        let token = SessionToken.random()
        let sessionID = try await store.insertSession(tokenHash: TokenHash(token), userID: user.id, at: clock.now())
        return (token, SessionRecord(id: sessionID, user: user))
    }

    private func recordFailedAuth(username: String, address: String) {
        let now = clock.now()
        throttle.withLock { $0.recordFailure(username: username, address: address, at: now) }
    }

    // MARK: - Messages

    /// `send`: stores `text` for every recipient, or for none.
    ///
    /// The checks that need no store are made now and throw their refusal; the delivery
    /// is handed to the store at once, after the caller's earlier store work, and
    /// `completion` gets its outcome on the store's thread.
    func send(
        _ text: String,
        from sender: UserRecord,
        to recipientNames: [String],
        completion: @escaping StoreCompletion<Void>
    ) throws(Refusal) {
        let recipients = try validRecipients(for: text, named: recipientNames)
        store.deliver(text, from: sender, to: recipients, at: clock.now()) { result in
            completion(result.flatMap { $0 ? .success(()) : .failure(Refusal.recipientNotFound) })
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

    private static func groupedBySender(_ messages: [StoredMessage]) -> [InboxGroup] {
        var groups: [InboxGroup] = []
        var groupIndex: [String: Int] = [:]
        for message in messages {
            let entry = InboxMessage(fromName: message.senderName, toName: message.recipientName, text: message.text)
            if let index = groupIndex[message.senderUsername] {
                groups[index].messages.append(entry)
            } else {
                groupIndex[message.senderUsername] = groups.count
                groups.append(InboxGroup(sender: message.senderUsername, messages: [entry]))
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
        store.liveSessionIDs(among: sessionIDs, at: clock.now(), idleLimit: configuration.sessionIdleLimit) { result in
            completion(result.map { live in
                self.presence.unbindSessions(Set(sessionIDs).subtracting(live))
                return entries.filter { $0.sessionIDs.contains(where: live.contains) }.map {
                    OnlineUser(username: $0.user.username.text, name: $0.user.profile.name, country: $0.user.profile.country)
                }
            })
        }
    }

    /// Forgets a closed connection.
    public func connectionClosed(_ connection: ConnectionContext) {
        presence.unbind(connection.id)
    }
}
