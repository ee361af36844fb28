import KabarProtocol

// MARK: - RequestDispatcher

/// Turns a ``Request`` into service calls and their outcome into a ``Reply``, without
/// waiting whenever it can.
///
/// Most requests of a busy connection are `send`, `inbox` and `show` with a session the
/// store confirmed a moment ago. Those are handed to the store at once and come back as
/// ``Dispatch/pending(_:)``, so the connection can dispatch its next request while the
/// store works: the connection's ``RequestLane`` keeps them taking effect in order, and
/// the connection writes the replies in order. What may change the connection's binding
/// (`auth`, `logout`, a session the store must confirm) is ``Dispatch/exclusive(_:)``:
/// the connection waits for it.
///
/// It knows nothing of sockets or event loops: a front end calls ``dispatch(_:on:makeEventSink:)``
/// on its own thread and gets its answers through ``Pending`` callbacks, or awaits
/// ``respond(to:on:makeEventSink:)``.
public struct RequestDispatcher: Sendable {
    public let service: ChatService

    /// How a request is being answered.
    public enum Dispatch {
        /// Answered already: `ping`, or a refusal that needs no store.
        case answered(Reply)
        /// The store is working on it; the connection may dispatch its next requests.
        case pending(Pending<Reply>)
        /// The connection must wait for it before dispatching more; the result carries the
        /// connection's state afterwards.
        case exclusive(Pending<(Reply, ConnectionContext)>)
    }

    public init(service: ChatService) {
        self.service = service
    }

    /// Starts answering `request` for `connection`.
    ///
    /// Every ``Refusal`` becomes an error reply; a ``Pending`` fails only for infrastructure
    /// failures, which the caller logs and answers with ``Refusal/serverFailure``.
    ///
    /// - Parameter makeEventSink: a new sink for the connection's events, asked for once
    ///   per `subscribe`.
    public func dispatch(
        _ request: Request,
        on connection: inout ConnectionContext,
        makeEventSink: () -> any LiveEventSink
    ) -> Dispatch {
        let service = self.service
        let connectionID = connection.id
        switch request {
        case .ping:
            return .answered(.pong)
        case .send(let reference, let recipients, let text):
            return withSession(reference, on: &connection, work: sendWork(text, to: recipients, on: connectionID))
        case .subscribe(let reference, let presence):
            let sink = makeEventSink()
            return withSession(reference, on: &connection) { session, reply in
                service.subscribe(connectionID, session: session, presence: presence, sink: sink) {
                    reply.answer($0) { .subscribed(unread: $0) }
                }
            }
        case .unsubscribe(let reference):
            return withSession(reference, on: &connection) { _, reply in
                service.unsubscribe(connectionID)
                reply.complete(.success(.unsubscribed))
            }
        case .ack(let reference, let ids):
            return withSession(reference, on: &connection) { session, reply throws(Refusal) in
                try service.acknowledge(ids, for: session.user) { reply.answer($0) { .acked($0) } }
            }
        case .history(let reference, let peer, let limit, let beforeID):
            return withSession(reference, on: &connection) { session, reply throws(Refusal) in
                try service.history(of: session.user, with: peer, limit: limit, beforeID: beforeID) {
                    reply.answer($0) { .history(with: peer, entries: $0) }
                }
            }
        case .conversations(let reference):
            return withSession(reference, on: &connection) { session, reply in
                service.conversations(of: session.user) { reply.answer($0) { .conversations($0) } }
            }
        case .inbox(let reference):
            return withSession(reference, on: &connection) { session, reply in
                service.takeInbox(for: session.user) { reply.answer($0) { .inbox($0) } }
            }
        case .show(let reference):
            return withSession(reference, on: &connection) { _, reply in
                service.onlineUsers { reply.answer($0) { .onlineUsers($0) } }
            }
        case .auth(let username, let password):
            return exclusive(connection) { connection in
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
            return exclusive(connection) { connection in
                let (token, session) = try await service.session(for: reference, on: &connection)
                try await service.logout(token, session: session, on: &connection)
                return .loggedOut(token)
            }
        case .register(let username, let password, let name, let country):
            return exclusive(connection) { _ in
                try await service.register(username: username, password: password, name: name, country: country)
                return .registered
            }
        }
    }

    /// Adds `request` to `burst` if it is a `send` whose session memory knows (binding the
    /// connection to it, as ``dispatch(_:on:makeEventSink:)`` would). Returns false, having
    /// changed nothing, for any other request: the caller dispatches the burst, then that
    /// request on its own.
    ///
    /// The `send`s of one burst act at one moment, read in one pass: a `send` for the
    /// session of the one before it takes that session as found, without looking it up
    /// again. (Anything that could end the session in between, a `logout`, is not a `send`
    /// and ends the burst.)
    public func gather(_ request: Request, into burst: inout SendBurst, on connection: inout ConnectionContext) -> Bool {
        guard case .send(let reference, let recipients, let text) = request else { return false }
        let token: SessionToken
        let session: SessionRecord
        if let previous = burst.entries.last, previous.token == Self.token(named: reference, on: connection) {
            (token, session) = (previous.token, previous.session)
        } else {
            guard case .found(let found, let foundSession) = service.sessionFromMemory(for: reference, on: &connection) else {
                return false
            }
            (token, session) = (found, foundSession)
        }
        burst.entries.append(SendBurst.Entry(token: token, session: session, recipientNames: recipients, text: text))
        return true
    }

    /// The token a request names, given or bound; nil if it names none.
    private static func token(named reference: SessionReference, on connection: ConnectionContext) -> SessionToken? {
        switch reference {
        case .bound: connection.boundToken
        case .token(let token): token
        case .malformedToken: nil
        }
    }

    /// How a burst is being answered.
    public enum BurstDispatch {
        /// A lone `send`, answered as ``dispatch(_:on:makeEventSink:)`` answers one.
        case one(Pending<Reply>)
        /// One reply per `send`, in order, all at once. A reply is a failure only for an
        /// infrastructure failure, which the caller logs and answers with
        /// ``Refusal/serverFailure``.
        case several(Pending<[Result<Reply, any Error>]>)
    }

    /// Hands `burst` to the store as one unit of work, taking effect after the connection's
    /// earlier requests.
    public func dispatch(_ burst: SendBurst, on connection: ConnectionContext) -> BurstDispatch {
        let service = self.service
        let connectionID = connection.id
        if burst.count == 1, let entry = burst.entries.first {
            let work = sendWork(entry.text, to: entry.recipientNames, on: connectionID)
            return .one(Self.start(work, for: entry.session, in: connection.lane))
        }
        return .several(Self.start(in: connection.lane) { replies in
            service.send(burst, on: connectionID) { outcomes in
                replies.complete(.success(outcomes.map { Reply.answering($0) { .messageSent } }))
            }
        })
    }

    /// The work of one `send`.
    private func sendWork(_ text: String, to recipients: [String], on connectionID: Presence.ConnectionID) -> SessionWork {
        let service = self.service
        return { session, reply throws(Refusal) in
            try service.send(text, from: session.user, to: recipients, on: connectionID) { reply.answer($0) { _ in .messageSent } }
        }
    }

    /// Work for a request's session: it throws a refusal it can tell at once, or starts
    /// store work that completes `reply` (see ``Pending/answer(_:_:)``).
    private typealias SessionWork = @Sendable (SessionRecord, _ reply: Pending<Reply>) throws(Refusal) -> Void

    /// Runs `work` for the request's session: in the connection's lane when memory knows
    /// the session, exclusively after asking the store otherwise.
    private func withSession(
        _ reference: SessionReference,
        on connection: inout ConnectionContext,
        work: @escaping SessionWork
    ) -> Dispatch {
        switch service.sessionFromMemory(for: reference, on: &connection) {
        case .found(_, let session):
            return .pending(Self.start(work, for: session, in: connection.lane))
        case .refused(let refusal):
            return .answered(.refused(refusal))
        case .needsStore:
            let service = self.service
            return exclusive(connection) { connection in
                let (_, session) = try await service.session(for: reference, on: &connection)
                return try await Self.start(work, for: session, in: connection.lane).value
            }
        }
    }

    /// Starts `work` in `lane`: the reply, which is a refusal if the work gave one at once.
    private static func start(_ work: @escaping SessionWork, for session: SessionRecord, in lane: RequestLane)
        -> Pending<Reply>
    {
        start(in: lane) { reply in run(work, for: session, reply: reply) }
    }

    /// Runs `work` once the connection's earlier requests have taken effect (at once when
    /// the store keeps them in order itself): the result `work` completes.
    private static func start<Value>(in lane: RequestLane, _ work: @escaping @Sendable (Pending<Value>) -> Void)
        -> Pending<Value>
    {
        let result = Pending<Value>()
        guard !lane.runsInCallOrder else {
            work(result)
            return result
        }
        lane.start { finished in
            let tracked = Pending<Value>()
            tracked.whenComplete {
                finished()
                result.complete($0)
            }
            work(tracked)
        }
        return result
    }

    private static func run(_ work: SessionWork, for session: SessionRecord, reply: Pending<Reply>) {
        do throws(Refusal) {
            try work(session, reply)
        } catch {
            reply.complete(.success(.refused(error)))
        }
    }

    /// Runs `body` as a task on a copy of the connection's state, once the connection's
    /// earlier requests have taken effect.
    private func exclusive(
        _ connection: ConnectionContext,
        body: @escaping @Sendable (inout ConnectionContext) async throws -> Reply
    ) -> Dispatch {
        let outcome = Pending<(Reply, ConnectionContext)>()
        Task {
            var connection = connection
            await connection.lane.idle()
            do {
                outcome.complete(.success((try await body(&connection), connection)))
            } catch let refusal as Refusal {
                outcome.complete(.success((.refused(refusal), connection)))
            } catch {
                outcome.complete(.failure(error))
            }
        }
        return .exclusive(outcome)
    }

    /// Answers `request` for `connection`: the same as ``dispatch(_:on:makeEventSink:)``,
    /// awaited, for a front end that handles one request of a connection at a time.
    ///
    /// - Throws: only infrastructure failures, which the caller logs and answers with
    ///   ``Refusal/serverFailure``.
    public func respond(
        to request: Request,
        on connection: inout ConnectionContext,
        makeEventSink: () -> any LiveEventSink
    ) async throws -> Reply {
        switch dispatch(request, on: &connection, makeEventSink: makeEventSink) {
        case .answered(let reply):
            return reply
        case .pending(let reply):
            return try await reply.value
        case .exclusive(let outcome):
            let (reply, updated) = try await outcome.value
            connection = updated
            return reply
        }
    }
}
