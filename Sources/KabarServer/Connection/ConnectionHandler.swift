import KabarCore
import KabarProtocol
import Logging
import NIOCore

// MARK: - ConnectionHandler

/// Answers one connection's requests on its event loop, replies in request order.
///
///     line ─▶ RequestParser ─▶ RequestDispatcher ─┬─ answered ──────────────┐
///                                                 ├─ pending: the store ────┼─▶ replies, in
///                                                 └─ exclusive: a task ─────┘   request order
///                                                    (later lines wait)
///
/// Parsing, `ping`, refusals and reply encoding never leave the event loop. A `send`
/// with a known session goes to the store at once and the next line is dispatched
/// without waiting, so one connection's pipelined requests share a group commit.
///
/// Back-pressure: it stops reading from the socket while lines wait (behind an
/// exclusive request, or with ``maximumInFlight`` replies outstanding) or while the
/// client is not reading its replies (the channel is not writable). At the end of input
/// (the client half-closed, or ``ReadStopper`` ended it at shutdown) it answers every
/// request it has read, then closes the connection.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFramer.Frame
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

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
    private var connection: ConnectionContext
    /// Lines read and not dispatched yet.
    private var waitingLines = CircularBuffer<LineFramer.Frame>(initialCapacity: 4)
    /// One slot per dispatched request that gets a reply, oldest first.
    private var replies = CircularBuffer<ReplySlot>(initialCapacity: 4)
    /// The number of the slot at the front of `replies`, counting from the first request.
    private var firstSlotNumber: UInt64 = 0
    private var isExclusiveRunning = false
    private var isReadHeld = false
    private var isInsideRead = false
    private var hasUnflushedReplies = false
    private var isInputClosed = false
    private var isClosed = false
    private var isAdvancing = false
    private var needsAnotherPass = false

    init(dispatcher: RequestDispatcher, connection: ConnectionContext, logger: Logger) {
        self.dispatcher = dispatcher
        self.connection = connection
        self.logger = logger
    }

    // MARK: - Events

    func channelActive(context: ChannelHandlerContext) {
        logger.info("connection opened", metadata: ["peer": "\(connection.clientAddress)"])
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isInputClosed else { return }
        isInsideRead = true
        waitingLines.append(unwrapInboundIn(data))
        advance(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isInsideRead = false
        flushIfUseful(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        advance(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            isInputClosed = true
            isInsideRead = false
            advance(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        waitingLines.removeAll()
        // An exclusive request still running may bind the connection; forget it after.
        if !isExclusiveRunning { connectionEnded() }
        context.fireChannelInactive()
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
            while !isClosed, !isExclusiveRunning, context.channel.isWritable, !waitingLines.isEmpty {
                if replies.count >= Self.maximumInFlight {
                    writeReadyReplies(context: context)
                    guard replies.count < Self.maximumInFlight else { break }
                }
                dispatch(waitingLines.removeFirst(), context: context)
            }
            writeReadyReplies(context: context)
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

    private func canTakeMoreLines(context: ChannelHandlerContext) -> Bool {
        waitingLines.isEmpty && !isExclusiveRunning && replies.count < Self.maximumInFlight
            && context.channel.isWritable
    }

    private func dispatch(_ line: LineFramer.Frame, context: ChannelHandlerContext) {
        let request: Request
        switch line {
        case .tooLong:
            return replies.append(.ready(.refused(.requestTooLong)))
        case .line(let bytes):
            switch RequestParser.parse(line: bytes) {
            case nil: return
            case .failure(let refusal)?: return replies.append(.ready(.refused(refusal)))
            case .success(let parsed)?: request = parsed
            }
        }
        let slot = firstSlotNumber + UInt64(replies.count)
        switch dispatcher.dispatch(request, on: &connection, eventLoop: context.eventLoop) {
        case .answered(let reply):
            replies.append(.ready(reply))
        case .pending(let reply):
            replies.append(.awaitingStore)
            reply.assumeIsolated().whenComplete { result in
                self.fill(slot, with: self.reply(from: result), context: context)
            }
        case .exclusive(let outcome):
            replies.append(.awaitingTask)
            isExclusiveRunning = true
            outcome.assumeIsolated().whenComplete { result in
                self.isExclusiveRunning = false
                if case .success((_, let updated)) = result { self.connection = updated }
                let reply = self.reply(from: result.map(\.0))
                if case .auth(let username, _) = request { self.logAuth(username: username, reply: reply) }
                guard !self.isClosed else { return self.connectionEnded() }
                self.fill(slot, with: reply, context: context)
            }
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

    private func fill(_ slot: UInt64, with reply: Reply, context: ChannelHandlerContext) {
        guard !isClosed else { return }
        let index = replies.index(replies.startIndex, offsetBy: Int(slot - firstSlotNumber))
        replies[index] = .ready(reply)
        // The store answers in request order, and one commit's answers arrive together:
        // when the next request waits for the store too, its answer comes right behind
        // this one (or with the next commit, before which nothing would be flushed
        // anyway), and that answer's pass writes both.
        let next = replies.index(after: index)
        if next < replies.endIndex, case .awaitingStore = replies[next] { return }
        advance(context: context)
    }

    /// Writes the replies that are ready at the front, in order, as one buffer.
    private func writeReadyReplies(context: ChannelHandlerContext) {
        let readyCount = replies.prefix { if case .ready = $0 { true } else { false } }.count
        guard readyCount > 0 else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 * readyCount)
        for _ in 0..<readyCount {
            guard case .ready(let reply) = replies.removeFirst() else { continue }
            ReplyEncoder.write(reply, into: &buffer)
        }
        firstSlotNumber += UInt64(readyCount)
        guard !isClosed else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        hasUnflushedReplies = true
    }

    /// Flushes written replies, except inside a burst of reads (the read's end flushes) and
    /// while the next reply is a store result that is about to come (it flushes them all).
    private func flushIfUseful(context: ChannelHandlerContext) {
        guard hasUnflushedReplies, !isInsideRead else { return }
        if case .awaitingStore? = replies.first { return }
        hasUnflushedReplies = false
        context.flush()
    }

    private func connectionEnded() {
        dispatcher.service.connectionClosed(connection)
        logger.info("connection closed")
    }

    private func logAuth(username: String, reply: Reply) {
        switch reply {
        case .loggedIn(let token):
            logger.info("auth succeeded", metadata: ["user": "\(username.prefix(32))", "token": "\(token.redacted)"])
        case .refused(let refusal):
            logger.notice("auth refused", metadata: ["user": "\(username.prefix(32))", "reason": "\(refusal.wireText)"])
        default:
            break
        }
    }
}
