import KabarProtocol
import NIOCore

// MARK: - ConnectionQuiesceEvent

/// Sent through a connection's pipeline at graceful shutdown: stop reading requests.
struct ConnectionQuiesceEvent: Sendable {}

// MARK: - ReadStopper

/// Ends the stream of requests at graceful shutdown, for plain and TLS connections alike.
///
/// On ``ConnectionQuiesceEvent`` it keeps reading only what the client had already sent.
/// It looks every ``quietPeriod``; once a request for more data has gone unanswered from
/// one look to the next, the socket is taken to be empty: it stops reading, drops anything
/// that still arrives, and tells the ``ConnectionHandler`` that input has ended; that
/// answers every request read and closes the connection. Time the connection spends not
/// asking (its requests in progress are at their limit) does not count, so a pipelining
/// client's queued lines are all read. A client that never stops sending is cut off by the
/// server's shutdown timeout.
///
/// The period is long because TCP can hold back what a client has sent. When the server
/// has stopped reading a connection (its requests in progress at their limit), the
/// connection's receive window closes, and the client's kernel sends the rest only after it
/// learns that the window opened again, sometimes from its own window probe. A 50 ms
/// period dropped the last lines of a client that had pipelined 60,000 sends: gaps of
/// 100–650 ms were measured between the server asking for data and the next piece
/// arriving while the client still had data queued.
///
/// Looks are counted rather than timed: the event loop runs every task that falls due
/// before it polls sockets again, so after a stall (a busy machine preempting the loop's
/// thread) a look can run just after a request for data, before the loop could read what
/// waits in the socket, however long ago the clock says the request was made. A request
/// already outstanding at the previous look has had a whole period to be answered.
///
/// It sits next to the line decoder, so that the reads and read requests it sees are the
/// socket's own.
final class ReadStopper: ChannelDuplexHandler {
    typealias InboundIn = LineFramer.Frame
    typealias InboundOut = LineFramer.Frame
    typealias OutboundIn = NIOAny

    static let quietPeriod: TimeAmount = .seconds(1)

    private enum State {
        case reading
        /// Shutting down: reading what is already on its way, looking every quiet period.
        case draining(nextLook: Scheduled<Void>?)
        case stopped
    }

    private var state = State.reading
    /// Looks so far; the quiesce event counts as the first.
    private var looks = 0
    /// The value of `looks` when the connection asked the socket for data that has not come
    /// yet; nil while it is not asking.
    private var unansweredReadSinceLook: Int?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        unansweredReadSinceLook = nil
        guard !isStopped else { return }
        context.fireChannelRead(data)
    }

    /// A read from the socket ended (it may have held no complete line).
    func channelReadComplete(context: ChannelHandlerContext) {
        unansweredReadSinceLook = nil
        guard !isStopped else { return }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        guard !isStopped else { return }
        if unansweredReadSinceLook == nil { unansweredReadSinceLook = looks }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Handlers after this one see the quiesce event too (the rate limiter lets its
        // held lines through at once).
        defer { context.fireUserInboundEventTriggered(event) }
        guard event is ConnectionQuiesceEvent, case .reading = state else { return }
        looks = 1
        scheduleLook(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .draining(let nextLook) = state { nextLook?.cancel() }
    }

    private var isStopped: Bool {
        if case .stopped = state { return true }
        return false
    }

    private func scheduleLook(context: ChannelHandlerContext) {
        state = .draining(
            nextLook: context.eventLoop.assumeIsolated().scheduleTask(in: Self.quietPeriod) { [self] in
                self.look(context: context)
            }
        )
    }

    private func look(context: ChannelHandlerContext) {
        guard case .draining = state else { return }
        defer { looks += 1 }
        guard let since = unansweredReadSinceLook, since < looks else {
            return scheduleLook(context: context)
        }
        state = .stopped
        context.fireChannelReadComplete()
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
}
