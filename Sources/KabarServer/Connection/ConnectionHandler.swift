import KabarCore
import KabarProtocol
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - ConnectionHandler

/// Answers one connection's requests on its event loop, replies in request order.
///
///     line ─▶ RequestParser ─▶ RequestDispatcher ─┬─ answered ──────────────┐
///                                                 ├─ pending: the store ────┼─▶ replies, in
///                                                 └─ exclusive: a task ─────┘   request order
///                                                    (later lines wait)
///
/// Framing, parsing, `ping`, refusals and reply encoding never leave the event loop. The
/// handler takes a read's lines itself (``IncomingLines``), each parsed where it was read,
/// so a pipelined burst is one trip down the pipeline, not one per line. A `send` with a
/// known session goes to the store without waiting for the one before it: the `send`s
/// that follow each other in one pass over the lines read go as one ``SendBurst``, one
/// unit of store work with one answer back, so one connection's pipelined requests share
/// a commit and a trip through the store's threads. The replies ready within one burst of
/// reads (a pipelined batch of `ping`s, say) are written as one buffer at the burst's end.
///
/// The per-connection limits of ``Limits`` are its state too:
/// - flood control: each line spends a token of a ``TokenBucket``; without one the line
///   waits (and reading with it) until the bucket refills. Nothing is dropped: the client
///   is slowed down, TCP pushes back on it, and every request it sent is answered. At a
///   graceful shutdown (``ConnectionQuiesceEvent``) the lines already read go at once;
/// - the idle timeout: a connection on which no complete request line arrived for that
///   long is closed (a client trickling the bytes of a line that never ends does not
///   keep its slot);
/// - the stalled reader: a connection whose client leaves its replies unread for that
///   long is closed (``StalledReaderTimer``).
///
/// Back-pressure: it stops reading from the socket while lines wait (behind an
/// exclusive request, or with ``maximumInFlight`` replies outstanding) or while the
/// client is not reading its replies (the channel is not writable). At the end of input
/// (the client half-closed, or ``ReadStopper`` ended it at shutdown) it answers every
/// request it has read, then closes the connection.
///
/// A subscribed connection has a third source of output, its ``EventOutbox``: event
/// frames are written between replies (each reply and event is one whole write), a
/// subscription's replay right behind its `subscribe` reply and before any later reply,
/// and a client that leaves more than 1 MiB of events unread is disconnected.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    /// What one connection may send.
    struct Limits {
        /// The longest request line, in bytes, terminator excluded.
        var maximumLineLength: Int
        /// A connection with no request line for this long is closed.
        var idleTimeout: TimeAmount
        /// A connection that stays unwritable (its client reads no replies) for this long
        /// is closed.
        var stalledReaderTimeout: TimeAmount
        /// Request lines a second before the connection is slowed down, and how many may
        /// come at once above that rate; nil for no limit.
        var requestRate: (perSecond: Int, burst: Int)?
    }

    /// The most requests of one connection dispatched and not yet answered.
    static let maximumInFlight = 128

    /// One dispatched request's place in the reply order.
    private enum ReplySlot {
        case ready(Reply)
        /// The store is working on it: the reply comes within a commit.
        case awaitingStore
        /// A task is working on it (`auth` hashes a password, for one).
        case awaitingTask
    }

    private let dispatcher: RequestDispatcher
    private let logger: Logger
    // The state every request line touches, only ever used on the channel's event loop.
    // Release builds leave out the runtime's exclusivity checks on it: an access to a
    // class's stored property that spans a call is checked at run time, and those checks
    // took about a tenth of the event loops' CPU per `ping` at P16 (BENCHMARKS.md, the
    // fourteenth look). Debug builds, which run the tests, keep them, so an overlapping
    // access still traps there.
    #if DEBUG
    private var connection: ConnectionContext
    /// Lines read and not dispatched yet.
    private var waitingLines: IncomingLines
    /// One slot per dispatched request that gets a reply, oldest first.
    private var replies = CircularBuffer<ReplySlot>(initialCapacity: 4)
    /// The `send`s of this pass not handed to the store yet, whose slots are the last ones
    /// of `replies`; empty outside ``advance(context:)``.
    private var burst = SendBurst()
    /// The subscription's events and replay waiting for the socket.
    private var outbox = EventOutbox()
    #else
    @exclusivity(unchecked) private var connection: ConnectionContext
    @exclusivity(unchecked) private var waitingLines: IncomingLines
    @exclusivity(unchecked) private var replies = CircularBuffer<ReplySlot>(initialCapacity: 4)
    @exclusivity(unchecked) private var burst = SendBurst()
    @exclusivity(unchecked) private var outbox = EventOutbox()
    #endif
    /// Flood control's tokens; nil for no limit.
    private var requestTokens: TokenBucket?
    /// Lets waiting lines go when the bucket has refilled.
    private var scheduledTokenRefill: Scheduled<Void>?
    /// A graceful shutdown began: the lines read are answered without waiting for tokens.
    private var isDraining = false
    private let idleTimeout: TimeAmount
    /// When the last read that completed a request line ended (the handler is made as the
    /// connection opens).
    private var lastLineReadAt = NIODeadline.now()
    private var sawLineInRead = false
    private var scheduledIdleCheck: Scheduled<Void>?
    private var stalledReader: StalledReaderTimer
    private var burstStartedAt: NIODeadline?
    /// The number of the slot at the front of `replies`, counting from the first request.
    private var firstSlotNumber: UInt64 = 0
    private var isExclusiveRunning = false
    private var isReadHeld = false
    private var isInsideRead = false
    private var hasUnflushedReplies = false
    /// Event frames written and not flushed: they go out without waiting for a reply.
    private var hasUnflushedEvents = false
    private var isInputClosed = false
    private var isClosed = false
    private var isAdvancing = false
    private var needsAnotherPass = false

    init(dispatcher: RequestDispatcher, connection: ConnectionContext, limits: Limits, logger: Logger) {
        self.dispatcher = dispatcher
        self.connection = connection
        self.logger = logger
        self.waitingLines = IncomingLines(maximumLineLength: limits.maximumLineLength)
        self.idleTimeout = limits.idleTimeout
        self.stalledReader = StalledReaderTimer(timeout: limits.stalledReaderTimeout)
        if let rate = limits.requestRate {
            requestTokens = TokenBucket(rate: Double(rate.perSecond), burst: Double(max(1, rate.burst)), now: .now())
        }
    }

    // MARK: - Events

    func channelActive(context: ChannelHandlerContext) {
        logger.info("connection opened", metadata: ["peer": "\(connection.clientAddress)"])
        scheduleIdleCheck(in: idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isInputClosed else { return }
        isInsideRead = true
        if waitingLines.append(unwrapInboundIn(data)) { sawLineInRead = true }
        advance(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isInsideRead = false
        if sawLineInRead {
            sawLineInRead = false
            lastLineReadAt = .now()  // once per burst of reads, as NIO's IdleStateHandler does
        }
        advance(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stalledReader.writabilityChanged(context: context)
        advance(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            isInputClosed = true
            isInsideRead = false
            waitingLines.endOfInput()
            advance(context: context)
        } else if event is ConnectionQuiesceEvent {
            isDraining = true
            advance(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        waitingLines.removeAll()
        cancelTimers()
        outbox.end()
        // An exclusive request still running may bind the connection; forget it after.
        if !isExclusiveRunning { connectionEnded() }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if canTakeMoreLines(context: context) {
            context.read()
        } else {
            isReadHeld = true
        }
    }

    // MARK: - Moving requests along

    /// Dispatches what may be dispatched, writes the replies that are ready in order, and
    /// then reads more, flushes or closes as the state allows.
    private func advance(context: ChannelHandlerContext) {
        // A write can change writability, which calls back in here: run one pass at a time.
        guard !isAdvancing else {
            needsAnotherPass = true
            return
        }
        isAdvancing = true
        repeat {
            needsAnotherPass = false
            var now: NIODeadline?  // read by the first line of the pass that spends a token
            // Only a write changes writability, and dispatching writes nothing.
            var isWritable = context.channel.isWritable
            while !isClosed, !isExclusiveRunning, isWritable, !waitingLines.isEmpty {
                if replies.count >= Self.maximumInFlight {
                    writeReadyReplies(context: context)
                    guard replies.count < Self.maximumInFlight else { break }
                    isWritable = context.channel.isWritable
                    guard isWritable else { break }
                }
                guard mayDispatchLine(clock: &now, context: context) else { break }
                dispatchFirstLine(context: context)
            }
            dispatchBurst(context: context)
            // Inside a burst of reads the replies (and events) wait for the burst's end,
            // which writes them as one buffer: a pipelined burst of 16 `ping`s is one
            // write, not 16 trips down the pipeline and 16 iovecs.
            guard !isInsideRead else { break }
            writeReadyReplies(context: context)
            let wasReplaying = outbox.isReplaying
            writeEvents(context: context)
            // A replay written to its end lets the replies behind it go.
            if wasReplaying, !outbox.isReplaying { needsAnotherPass = true }
        } while needsAnotherPass
        isAdvancing = false

        flushIfUseful(context: context)
        if isReadHeld, canTakeMoreLines(context: context) {
            isReadHeld = false
            context.read()
        }
        if isInputClosed, !isClosed, waitingLines.isEmpty, replies.isEmpty, !isExclusiveRunning {
            isClosed = true
            context.flush()
            context.close(promise: nil)
        }
    }

    /// Whether flood control lets the next line go now (spending its token); if not, the
    /// lines wait for a pass planned for when the bucket has one. The clock is read once
    /// per pass, by the first line that needs it: the lines of a pass spend at one moment.
    private func mayDispatchLine(clock now: inout NIODeadline?, context: ChannelHandlerContext) -> Bool {
        guard requestTokens != nil, !isDraining else { return true }
        let moment = now ?? .now()
        now = moment
        guard let delay = requestTokens?.take(at: moment), delay > .zero else { return true }
        if scheduledTokenRefill == nil {
            scheduledTokenRefill = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                self.scheduledTokenRefill = nil
                self.advance(context: context)
            }
        }
        return false
    }

    /// Closes the connection once no request line has arrived for the idle timeout.
    private func scheduleIdleCheck(in delay: TimeAmount, context: ChannelHandlerContext) {
        scheduledIdleCheck = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            let quiet = NIODeadline.now() - self.lastLineReadAt
            if quiet >= self.idleTimeout {
                self.scheduledIdleCheck = nil
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(in: self.idleTimeout - quiet, context: context)
            }
        }
    }

    private func cancelTimers() {
        scheduledTokenRefill?.cancel()
        scheduledTokenRefill = nil
        scheduledIdleCheck?.cancel()
        scheduledIdleCheck = nil
        stalledReader.cancel()
    }

    private func canTakeMoreLines(context: ChannelHandlerContext) -> Bool {
        waitingLines.isEmpty && !isExclusiveRunning && replies.count < Self.maximumInFlight
            && context.channel.isWritable
    }

    /// Takes the oldest waiting line, parsed where it was read, and dispatches it.
    private func dispatchFirstLine(context: ChannelHandlerContext) {
        let request: Request
        // Switched over as it comes, the parsed request is moved into `request`, not copied.
        switch waitingLines.popFirst(line: RequestParser.parse(line:), tooLong: { .failure(.requestTooLong) })! {
        case nil: return  // a blank line gets no reply
        case .failure(let refusal)?:
            dispatchBurst(context: context)
            ServerMetrics.requestAnswered(.invalid, .refused(refusal))
            return replies.append(.ready(.refused(refusal)))
        case .success(let parsed)?: request = parsed
        }
        if dispatcher.gather(request, into: &burst, on: &connection) {
            if burst.count == 1 { burstStartedAt = ServerMetrics.requestStarted() }
            return replies.append(.awaitingStore)
        }
        // What is not a `send` takes effect after the sends before it.
        dispatchBurst(context: context)
        let slot = firstSlotNumber + UInt64(replies.count)
        let command = ServerMetrics.Command(request)
        let start = ServerMetrics.requestStarted()
        let dispatched = dispatcher.dispatch(request, on: &connection) { self.makeEventSink(context: context) }
        switch dispatched {
        case .answered(let reply):
            ServerMetrics.requestAnswered(command, reply, startedAt: start)
            replies.append(.ready(reply))
        case .pending(let reply):
            replies.append(.awaitingStore)
            fill(slot, when: reply, command: command, startedAt: start, context: context)
        case .exclusive(let outcome):
            replies.append(.awaitingTask)
            isExclusiveRunning = true
            whenComplete(outcome, context: context) { handler, result in
                handler.isExclusiveRunning = false
                if case .success((_, let updated)) = result { handler.connection = updated }
                let reply = handler.reply(from: result.map(\.0))
                ServerMetrics.requestAnswered(command, reply, startedAt: start)
                if case .auth(let username, _) = request { handler.logAuth(username: username, reply: reply) }
                guard !handler.isClosed else { return handler.connectionEnded() }
                handler.fill(slot, with: CollectionOfOne(reply), context: context)
            }
        }
    }

    /// Hands the gathered `send`s to the store as one unit; their replies fill their slots
    /// together. Timed from when the first of them was read.
    private func dispatchBurst(context: ChannelHandlerContext) {
        guard !burst.isEmpty else { return }
        let (count, start) = (burst.count, burstStartedAt)
        let firstSlot = firstSlotNumber + UInt64(replies.count - count)
        let dispatched = dispatcher.dispatch(burst, on: connection)
        burst = SendBurst()
        switch dispatched {
        case .one(let reply):
            fill(firstSlot, when: reply, command: .send, startedAt: start, context: context)
        case .several(let outcomes):
            whenComplete(outcomes, context: context) { handler, result in
                let replies = switch result {
                case .success(let outcomes): outcomes.map(handler.reply(from:))
                case .failure(let error): Array(repeating: handler.reply(from: .failure(error)), count: count)
                }
                for reply in replies { ServerMetrics.requestAnswered(.send, reply, startedAt: start) }
                handler.fill(firstSlot, with: replies, context: context)
            }
        }
    }

    /// Fills `slot` with the reply once the store has it.
    private func fill(
        _ slot: UInt64,
        when pending: Pending<Reply>,
        command: ServerMetrics.Command,
        startedAt start: NIODeadline?,
        context: ChannelHandlerContext
    ) {
        whenComplete(pending, context: context) { handler, result in
            let reply = handler.reply(from: result)
            ServerMetrics.requestAnswered(command, reply, startedAt: start)
            handler.fill(slot, with: CollectionOfOne(reply), context: context)
        }
    }

    /// Runs `body` on the event loop once `pending` completes, always as a task queued on
    /// the loop, never inline: work the store queued on the loop before it completed
    /// `pending` (a subscription's replay, handed over just before its `subscribe` reply)
    /// must run first, also when `pending` completed before this registered for it.
    private func whenComplete<Value>(
        _ pending: Pending<Value>,
        context: ChannelHandlerContext,
        _ body: @escaping (ConnectionHandler, Result<Value, any Error>) -> Void
    ) {
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((self, body), eventLoop: eventLoop)
        pending.whenComplete { result in
            eventLoop.execute { bound.value.1(bound.value.0, result) }
        }
    }

    private func reply(from result: Result<Reply, any Error>) -> Reply {
        switch result {
        case .success(let reply):
            return reply
        case .failure(let error):
            logger.error("request failed", metadata: ["error": "\(error)"])
            return .refused(.serverFailure)
        }
    }

    /// Fills the slots from `firstSlot` on with `answers`, in order.
    private func fill(_ firstSlot: UInt64, with answers: some Collection<Reply>, context: ChannelHandlerContext) {
        guard !isClosed else { return }
        var next = replies.index(replies.startIndex, offsetBy: Int(firstSlot - firstSlotNumber))
        for reply in answers {
            replies[next] = .ready(reply)
            next = replies.index(after: next)
        }
        // The store answers in request order, and one commit's answers arrive together:
        // when the next request waits for the store too, its answer comes right behind
        // these (or with the next commit, before which nothing would be flushed anyway),
        // and that answer's pass writes them all.
        if next < replies.endIndex, case .awaitingStore = replies[next] { return }
        advance(context: context)
    }

    /// Writes the replies that are ready at the front, in order, as one buffer; none while
    /// a subscription's replay is being written, and none after a `subscribe` reply until
    /// its replay is.
    private func writeReadyReplies(context: ChannelHandlerContext) {
        guard !outbox.isReplaying else { return }
        var readyCount = 0
        for slot in replies {
            guard case .ready = slot else { break }
            readyCount += 1
        }
        guard readyCount > 0 else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 * readyCount)
        var written = 0
        while written < readyCount, case .ready(let reply) = replies.removeFirst() {
            written += 1
            ReplyEncoder.write(reply, into: &buffer)
            if case .subscribed = reply {
                outbox.subscribeReplyWritten()
                break
            }
            // No event of an ended subscription follows these replies.
            switch reply {
            case .unsubscribed, .loggedIn: outbox.end()
            default: break
            }
        }
        firstSlotNumber += UInt64(written)
        guard !isClosed else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        hasUnflushedReplies = true
    }

    /// Writes waiting event frames while the socket takes them.
    private func writeEvents(context: ChannelHandlerContext) {
        while !isClosed, context.channel.isWritable, let buffer = outbox.nextWrite(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(buffer), promise: nil)
            hasUnflushedReplies = true
            hasUnflushedEvents = true
        }
    }

    /// Flushes written replies, except inside a burst of reads (the read's end flushes) and
    /// while the next reply is a store result that is about to come (it flushes them all);
    /// written events are flushed at once.
    private func flushIfUseful(context: ChannelHandlerContext) {
        guard hasUnflushedReplies, !isInsideRead else { return }
        if !hasUnflushedEvents, case .awaitingStore? = replies.first { return }
        hasUnflushedReplies = false
        hasUnflushedEvents = false
        context.flush()
    }

    // MARK: - Events

    /// A sink for a new subscription of this connection: its hand-overs come back here, on
    /// the event loop.
    private func makeEventSink(context: ChannelHandlerContext) -> ConnectionEventSink {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        return ConnectionEventSink(eventLoop: context.eventLoop) { handover, sink in
            let (handler, context) = bound.value
            handler.receive(handover, from: sink, context: context)
        }
    }

    private func receive(_ handover: ConnectionEventSink.Handover, from sink: ConnectionEventSink, context: ChannelHandlerContext) {
        guard !isClosed else { return }
        guard outbox.receive(handover, from: sink) else {
            logger.notice("slow subscriber disconnected", metadata: ["held-event-bytes": "\(outbox.heldBytes)"])
            ServerMetrics.subscriberCutOff()
            outbox.end()
            // Reset rather than close: a client that reads nothing would leave a close's
            // end-of-stream, and the kernel's megabytes of unsent events, waiting behind a
            // window that never opens. Its messages stay unread in the store.
            let reset = (context.channel as? any SocketOptionProvider)?.setSoLinger(Self.lingerZero)
            let channel = context.channel
            if let reset {
                reset.whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
            return
        }
        advance(context: context)
    }

    /// `SO_LINGER` on, with no time: closing resets the connection. Built from its two
    /// `int`s rather than through `linger`'s fields, which both Glibc and NIO's C shims
    /// declare: with MemberImportVisibility, which of them "defines" the fields depends on
    /// the order the compiler loaded them, so naming them may compile in one build and
    /// not in the next.
    private static let lingerZero = unsafeBitCast((Int32(1), Int32(0)), to: linger.self)

    private func connectionEnded() {
        dispatcher.service.connectionClosed(connection)
        logger.info("connection closed")
    }

    private func logAuth(username: String, reply: Reply) {
        switch reply {
        case .loggedIn(let token):
            logger.info("auth succeeded", metadata: ["user": "\(username.prefix(32))", "token": "\(token.redacted)"])
        case .refused(let refusal):
            switch refusal {
            case .tooManyAttempts: ServerMetrics.loginThrottled()
            case .unknownUser, .wrongPassword: ServerMetrics.loginFailed()
            default: break
            }
            logger.notice("auth refused", metadata: ["user": "\(username.prefix(32))", "reason": "\(refusal.wireText)"])
        default:
            break
        }
    }
}
