import KabarProtocol

// MARK: - Sessions and bound connections

extension ChatService {
    /// What can be said about a request's session without asking the store.
    enum SessionLookup {
        /// The session, confirmed by the store a moment ago; the connection is bound to it.
        case found(SessionToken, SessionRecord)
        /// The request is refused whatever the store holds.
        case refused(Refusal)
        /// Only the store can tell whether this token's session is live.
        case needsStore(SessionToken)
    }

    /// The session a request acts for, as far as memory knows it, binding the connection
    /// to it when it is found.
    func sessionFromMemory(for reference: SessionReference, on connection: inout ConnectionContext) -> SessionLookup {
        let token: SessionToken
        switch reference {
        case .bound:
            guard let bound = connection.boundToken else { return .refused(.notAuthorized) }
            token = bound
        case .token(let named):
            token = named
        case .malformedToken:
            return .refused(.sessionNotFound)
        }
        guard let session = sessionCache.session(for: token, at: clock.now()) else { return .needsStore(token) }
        // A connection already bound to this session stays as it is: rebinding it would
        // only take the presence lock again. (If its binding was dropped because the store
        // found the session ended, it stays dropped.)
        if connection.boundToken != token { bind(&connection, to: token, session: session) }
        return .found(token, session)
    }

    /// The session a request acts for, binding the connection to it.
    ///
    /// PROTOCOL.md, "Bound connections": a valid token binds (or rebinds) the connection;
    /// a tokenless request uses the bound session, gets `not authorized` if there is none,
    /// and unbinds the connection with `Session Tidak Ditemukan` if that session ended
    /// elsewhere.
    func session(for reference: SessionReference, on connection: inout ConnectionContext) async throws
        -> (SessionToken, SessionRecord)
    {
        let token: SessionToken
        switch sessionFromMemory(for: reference, on: &connection) {
        case .found(let token, let session): return (token, session)
        case .refused(let refusal): throw refusal
        case .needsStore(let unconfirmed): token = unconfirmed
        }
        guard let session = try await confirmedSession(token) else {
            if case .bound = reference {
                connection.boundToken = nil
                presenceChanged(presence.unbind(connection.id))
            }
            throw Refusal.sessionNotFound
        }
        bind(&connection, to: token, session: session)
        return (token, session)
    }

    /// Binds `connection` to a session it just proved it holds.
    func bind(_ connection: inout ConnectionContext, to token: SessionToken, session: SessionRecord) {
        connection.boundToken = token
        presenceChanged(presence.bind(connection.id, to: session, at: clock.now()))
    }

    /// `logout`: ends the session everywhere and unbinds this connection.
    func logout(_ token: SessionToken, session: SessionRecord, on connection: inout ConnectionContext) async throws {
        sessionCache.forget(token)
        let hash = TokenHash(token)
        guard try await store.deleteSession(tokenHash: hash) else { throw Refusal.sessionNotFound }
        live.endSessions([session.id])
        presenceChanged(presence.unbindSessions([session.id]))
        connection.boundToken = nil
        try await endEverywhere(.session(id: session.id, tokenHash: hash))
    }

    /// Makes every other node forget sessions this node (or this command) ended in the
    /// store, before returning.
    func endEverywhere(_ ending: SessionEnding) async throws {
        try await coordination.sessionEndings.announce(ending)
    }

    /// Forgets sessions ended elsewhere: the cache, the connections bound to them, their
    /// subscriptions.
    func forgetEnded(_ ending: SessionEnding) {
        let sessionIDs: Set<Int64>
        switch ending {
        case .session(let id, let hash):
            sessionCache.forget(hash)
            sessionIDs = [id]
        case .user(let userID):
            sessionCache.forget(userID: userID)
            sessionIDs = Set(presence.onlineEntries().filter { $0.user.id == userID }.flatMap(\.sessionIDs))
        }
        live.endSessions(sessionIDs)
        presenceChanged(presence.unbindSessions(sessionIDs))
    }

    /// Asks the store whether `token`'s session is live, and remembers the answer.
    private func confirmedSession(_ token: SessionToken) async throws -> SessionRecord? {
        let now = clock.now()
        let hash = TokenHash(token)
        let session = try await store.session(
            tokenHash: hash,
            at: now,
            idleLimit: configuration.sessionIdleLimit
        )
        if let session {
            sessionCache.remember(session, for: token, hash: hash, at: now)
        } else {
            sessionCache.forget(token)
        }
        return session
    }
}
