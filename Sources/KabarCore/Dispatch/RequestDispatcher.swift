import KabarProtocol
import NIOCore

// MARK: - RequestDispatcher

/// Turns a ``Request`` into service calls and their outcome into a ``Reply``, without
/// waiting whenever it can.
///
/// Most requests of a busy connection are `send`, `inbox` and `show` with a session the
/// store confirmed a moment ago. Those are handed to the store at once and come back as
/// ``Dispatch/pending(_:)``, so the connection can dispatch its next request while the
/// store works: the store runs them in order, and the connection writes the replies in
/// order. What may change the connection's binding (`auth`, `logout`, a session the
/// store must confirm) is ``Dispatch/exclusive(_:)``: the connection waits for it.
public struct RequestDispatcher: Sendable {
    public let service: ChatService

    /// How a request is being answered.
    public enum Dispatch {
        /// Answered already: `ping`, or a refusal that needs no store.
        case answered(Reply)
        /// The store is working on it; the connection may dispatch its next requests.
        case pending(EventLoopFuture<Reply>)
        /// The connection must wait for it before dispatching more; the future carries the
        /// connection's state afterwards.
        case exclusive(EventLoopFuture<(Reply, ConnectionContext)>)
    }

    public init(service: ChatService) {
        self.service = service
    }

    /// Starts answering `request` for `connection`.
    ///
    /// Every ``Refusal`` becomes an error reply; a future fails only for infrastructure
    /// failures, which the caller logs and answers with ``Refusal/serverFailure``.
    ///
    /// - Parameter makeEventSink: a new sink for the connection's events, asked for once
    ///   per `subscribe`.
    public func dispatch(
        _ request: Request,
        on connection: inout ConnectionContext,
        eventLoop: any EventLoop,
        makeEventSink: () -> any LiveEventSink
    ) -> Dispatch {
        let service = self.service
        let connectionID = connection.id
        switch request {
        case .ping:
            return .answered(.pong)
        case .send(let reference, let recipients, let text):
            return withSession(reference, on: &connection, eventLoop) { session, reply throws(Refusal) in
                try service.send(text, from: session.user, to: recipients, on: connectionID) { reply.answer($0) { .messageSent } }
            }
        case .subscribe(let reference, let presence):
            let sink = makeEventSink()
            return withSession(reference, on: &connection, eventLoop) { session, reply in
                service.subscribe(connectionID, session: session, presence: presence, sink: sink) {
                    reply.answer($0) { .subscribed(unread: $0) }
                }
            }
        case .unsubscribe(let reference):
            return withSession(reference, on: &connection, eventLoop) { _, reply in
                service.unsubscribe(connectionID)
                reply.succeed(.unsubscribed)
            }
        case .ack(let reference, let ids):
            return withSession(reference, on: &connection, eventLoop) { session, reply throws(Refusal) in
                try service.acknowledge(ids, for: session.user) { reply.answer($0) { .acked($0) } }
            }
        case .history(let reference, let peer, let limit, let beforeID):
            return withSession(reference, on: &connection, eventLoop) { session, reply throws(Refusal) in
                try service.history(of: session.user, with: peer, limit: limit, beforeID: beforeID) {
                    reply.answer($0) { .history(with: peer, entries: $0) }
                }
            }
        case .conversations(let reference):
            return withSession(reference, on: &connection, eventLoop) { session, reply in
                service.conversations(of: session.user) { reply.answer($0) { .conversations($0) } }
            }
        case .inbox(let reference):
            return withSession(reference, on: &connection, eventLoop) { session, reply in
                service.takeInbox(for: session.user) { reply.answer($0) { .inbox($0) } }
            }
        case .show(let reference):
            return withSession(reference, on: &connection, eventLoop) { _, reply in
                service.onlineUsers { reply.answer($0) { .onlineUsers($0) } }
            }
        case .auth(let username, let password):
            return exclusive(connection, eventLoop) { connection in
                let (token, session) = try await service.authenticate(
                    username: username,
                    password: password,
                    from: connection.clientAddress
                )
                // A new session on a subscribed connection ends its subscription.
                service.unsubscribe(connection.id)
                service.bind(&connection, to: token, session: session)
                return .loggedIn(token)
            }
        case .logout(let reference):
            return exclusive(connection, eventLoop) { connection in
                let (token, session) = try await service.session(for: reference, on: &connection)
                try await service.logout(token, session: session, on: &connection)
                return .loggedOut(token)
            }
        case .register(let username, let password, let name, let country):
            return exclusive(connection, eventLoop) { _ in
                try await service.register(username: username, password: password, name: name, country: country)
                return .registered
            }
        }
    }

    /// Work for a request's session: it throws a refusal it can tell at once, or starts
    /// store work that completes `reply` (see ``EventLoopPromise/answer(_:_:)``).
    private typealias SessionWork = @Sendable (SessionRecord, _ reply: EventLoopPromise<Reply>) throws(Refusal) -> Void

    /// Runs `work` for the request's session: at once when memory knows the session,
    /// exclusively after asking the store otherwise.
    private func withSession(
        _ reference: SessionReference,
        on connection: inout ConnectionContext,
        _ eventLoop: any EventLoop,
        work: @escaping SessionWork
    ) -> Dispatch {
        switch service.sessionFromMemory(for: reference, on: &connection) {
        case .found(_, let session):
            switch Self.start(work, for: session, on: eventLoop) {
            case .success(let reply): return .pending(reply)
            case .failure(let refusal): return .answered(.refused(refusal))
            }
        case .refused(let refusal):
            return .answered(.refused(refusal))
        case .needsStore:
            let service = self.service
            return exclusive(connection, eventLoop) { connection in
                let (_, session) = try await service.session(for: reference, on: &connection)
                let reply = try Self.start(work, for: session, on: eventLoop).get()
                return try await reply.get()
            }
        }
    }

    /// Starts `work`: the future of its reply, or the refusal it gave at once.
    private static func start(_ work: SessionWork, for session: SessionRecord, on eventLoop: any EventLoop)
        -> Result<EventLoopFuture<Reply>, Refusal>
    {
        let promise = eventLoop.makePromise(of: Reply.self)
        do throws(Refusal) {
            try work(session, promise)
            return .success(promise.futureResult)
        } catch {
            promise.succeed(.refused(error))  // unused, but a promise must not be dropped unfulfilled
            return .failure(error)
        }
    }

    /// Runs `body` as a task on a copy of the connection's state.
    private func exclusive(
        _ connection: ConnectionContext,
        _ eventLoop: any EventLoop,
        body: @escaping @Sendable (inout ConnectionContext) async throws -> Reply
    ) -> Dispatch {
        let promise = eventLoop.makePromise(of: (Reply, ConnectionContext).self)
        promise.completeWithTask {
            var connection = connection
            do {
                return (try await body(&connection), connection)
            } catch let refusal as Refusal {
                return (.refused(refusal), connection)
            }
        }
        return .exclusive(promise.futureResult)
    }
}

extension EventLoopPromise<Reply> {
    /// Completes the promise with the reply for a service outcome: `reply(value)`, the
    /// refusal's error reply, or the infrastructure failure (the connection logs it and
    /// answers ``Refusal/serverFailure``). Called on the store's thread, it is the one hop
    /// back to the connection's event loop.
    func answer<Outcome>(_ outcome: Result<Outcome, any Error>, _ reply: (Outcome) -> Reply) {
        switch outcome {
        case .success(let value): succeed(reply(value))
        case .failure(let refusal as Refusal): succeed(.refused(refusal))
        case .failure(let error): fail(error)
        }
    }
}
