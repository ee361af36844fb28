import KabarProtocol

// MARK: - Sessions and bound connections

extension ChatService {
    /// The session a request acts for, binding the connection to it.
    ///
    /// PROTOCOL.md, "Bound connections": a valid token binds (or rebinds) the connection;
    /// a tokenless request uses the bound session, gets `not authorized` if there is none,
    /// and unbinds the connection with `Session Tidak Ditemukan` if that session ended
    /// elsewhere.
    func session(for reference: SessionReference, on connection: inout ConnectionContext) async throws
        -> (SessionToken, SessionRecord)
    {
        switch reference {
        case .bound:
            guard let token = connection.boundToken else { throw Refusal.notAuthorized }
            guard let session = try await liveSession(token) else {
                connection.boundToken = nil
                presence.unbind(connection.id)
                throw Refusal.sessionNotFound
            }
            return (token, session)
        case .token(let word):
            guard let token = SessionToken(word), let session = try await liveSession(token) else {
                throw Refusal.sessionNotFound
            }
            bind(&connection, to: token, session: session)
            return (token, session)
        }
    }

    /// Binds `connection` to a session it just proved it holds.
    func bind(_ connection: inout ConnectionContext, to token: SessionToken, session: SessionRecord) {
        connection.boundToken = token
        presence.bind(connection.id, to: session)
    }

    /// `logout`: ends the session everywhere and unbinds this connection.
    func logout(_ token: SessionToken, session: SessionRecord, on connection: inout ConnectionContext) async throws {
        sessionCache.forget(token)
        guard try await store.deleteSession(tokenHash: TokenHash(token)) else { throw Refusal.sessionNotFound }
        presence.unbindSessions([session.id])
        connection.boundToken = nil
    }

    /// The session `token` names, from the cache when the store confirmed it a moment ago.
    private func liveSession(_ token: SessionToken) async throws -> SessionRecord? {
        let now = clock.now()
        if let cached = sessionCache.session(for: token, at: now) { return cached }
        let session = try await store.session(
            tokenHash: TokenHash(token),
            at: now,
            idleLimit: configuration.sessionIdleLimit
        )
        if let session {
            sessionCache.remember(session, for: token, at: now)
        } else {
            sessionCache.forget(token)
        }
        return session
    }
}
