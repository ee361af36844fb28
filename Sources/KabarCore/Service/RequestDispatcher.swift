import KabarProtocol

// MARK: - RequestDispatcher

/// Turns a ``Request`` into a service call and its outcome into a ``Reply``.
public struct RequestDispatcher: Sendable {
    public let service: ChatService

    public init(service: ChatService) {
        self.service = service
    }

    /// Answers one request for `connection`.
    ///
    /// - Returns: the reply; every ``Refusal`` becomes an error reply.
    /// - Throws: only infrastructure failures, which the caller logs and answers with
    ///   ``Refusal/serverFailure``.
    public func respond(to request: Request, on connection: inout ConnectionContext) async throws -> Reply {
        do {
            return try await dispatch(request, on: &connection)
        } catch let refusal as Refusal {
            return .refused(refusal)
        }
    }

    private func dispatch(_ request: Request, on connection: inout ConnectionContext) async throws -> Reply {
        switch request {
        case .auth(let username, let password):
            let (token, session) = try await service.authenticate(
                username: username,
                password: password,
                from: connection.clientAddress
            )
            service.bind(&connection, to: token, session: session)
            return .loggedIn(token)
        case .send(let reference, let recipients, let text):
            let (_, session) = try await service.session(for: reference, on: &connection)
            try await service.send(text, from: session.user, to: recipients)
            return .messageSent
        case .inbox(let reference):
            let (_, session) = try await service.session(for: reference, on: &connection)
            return .inbox(try await service.takeInbox(for: session.user))
        case .show(let reference):
            _ = try await service.session(for: reference, on: &connection)
            return .onlineUsers(try await service.onlineUsers())
        case .logout(let reference):
            let (token, session) = try await service.session(for: reference, on: &connection)
            try await service.logout(token, session: session, on: &connection)
            return .loggedOut(token)
        case .register(let username, let password, let name, let country):
            try await service.register(username: username, password: password, name: name, country: country)
            return .registered
        case .ping:
            return .pong
        }
    }
}
