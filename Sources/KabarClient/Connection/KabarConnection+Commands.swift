import KabarProtocol

// MARK: - Typed commands

extension KabarConnection {
    /// `auth`. - Returns: the new session's token.
    /// - Throws: ``ReplyDecoder/ServerRefusal`` (e.g. `Password Salah`) or ``KabarClientError``.
    public func auth(username: String, password: String) async throws -> SessionToken {
        guard case .loggedIn(let token) = try await expect(.auth(username: username, password: password)) else {
            throw KabarClientError(code: .malformedReply)
        }
        return token
    }

    /// `send`: one message to one or many users.
    public func sendMessage(_ text: String, to recipients: [String], token: SessionToken? = nil) async throws {
        _ = try await expect(.send(session: reference(token), recipients: recipients, text: text))
    }

    /// `inbox`: the unread messages, grouped by sender.
    public func inbox(token: SessionToken? = nil) async throws -> [InboxGroup] {
        guard case .inbox(let groups) = try await expect(.inbox(session: reference(token))) else {
            throw KabarClientError(code: .malformedReply)
        }
        return groups
    }

    /// `show`: the users online.
    public func onlineUsers(token: SessionToken? = nil) async throws -> [OnlineUser] {
        guard case .onlineUsers(let users) = try await expect(.show(session: reference(token))) else {
            throw KabarClientError(code: .malformedReply)
        }
        return users
    }

    /// `logout`. - Returns: the token of the session that ended.
    @discardableResult
    public func logout(token: SessionToken? = nil) async throws -> SessionToken {
        guard case .loggedOut(let ended) = try await expect(.logout(session: reference(token))) else {
            throw KabarClientError(code: .malformedReply)
        }
        return ended
    }

    /// `register`.
    public func register(username: String, password: String, name: String, country: String) async throws {
        _ = try await expect(.register(username: username, password: password, name: name, country: country))
    }

    /// `ping`.
    public func ping() async throws {
        _ = try await expect(.ping)
    }

    private func expect(_ request: Request) async throws -> Reply {
        try await execute(request).get()
    }

    private func reference(_ token: SessionToken?) -> SessionReference {
        token.map { .token($0) } ?? .bound
    }
}
