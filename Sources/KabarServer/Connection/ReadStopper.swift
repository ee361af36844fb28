import KabarProtocol
import NIOCore

// MARK: - ConnectionQuiesceEvent

/// Sent through a connection's pipeline at graceful shutdown: stop reading requests.
struct ConnectionQuiesceEvent: Sendable {}

// MARK: - ReadStopper

/// Ends the stream of requests at graceful shutdown, for plain and TLS connections alike.
///
/// On ``ConnectionQuiesceEvent`` it keeps reading only what the client had already sent:
/// once the socket has had nothing to read for ``quietPeriod`` while the connection was
/// asking for more, it stops reading, drops anything that still arrives, and tells the
/// ``ConnectionHandler`` that input has ended; that answers every request read and closes
/// the connection. Time the connection spends not asking (its requests in progress are
/// at their limit) does not count, so a pipelining client's queued lines are all read. A
/// client that never stops sending is cut off by the server's shutdown timeout.
///
/// It sits next to the line decoder, so that the reads and read requests it sees are the
/// socket's own.
final class ReadStopper: ChannelDuplexHandler {
    typealias InboundIn = LineFramer.Frame
    typealias InboundOut = LineFramer.Frame
    typealias OutboundIn = NIOAny

    static let quietPeriod: TimeAmount = .milliseconds(50)

    private enum State {
        case reading
        /// Shutting down: reading what is already on its way, checking every quiet period.
        case draining(Scheduled<Void>?)
        case stopped
    }

    private var state = State.reading
    /// Since when the connection has asked the socket for data without getting any; nil
    /// while it is not asking.
    private var unansweredReadSince: NIODeadline?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        unansweredReadSince = nil
        guard !isStopped else { return }
        context.fireChannelRead(data)
    }

    /// A read from the socket ended (it may have held no complete line).
    func channelReadComplete(context: ChannelHandlerContext) {
        unansweredReadSince = nil
        guard !isStopped else { return }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        guard !isStopped else { return }
        if unansweredReadSince == nil { unansweredReadSince = .now() }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Handlers after this one see the quiesce event too (the rate limiter lets its
        // held lines through at once).
        defer { context.fireUserInboundEventTriggered(event) }
        guard event is ConnectionQuiesceEvent, case .reading = state else { return }
        scheduleCheck(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .draining(let check) = state { check?.cancel() }
    }

    private var isStopped: Bool {
        if case .stopped = state { return true }
        return false
    }

    private func scheduleCheck(context: ChannelHandlerContext) {
        state = .draining(
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.quietPeriod) { [self] in
                self.checkQuiet(context: context)
            }
        )
    }

    private func checkQuiet(context: ChannelHandlerContext) {
        guard case .draining = state else { return }
        guard let since = unansweredReadSince, .now() - since >= Self.quietPeriod else {
            return scheduleCheck(context: context)
        }
        state = .stopped
        context.fireChannelReadComplete()
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
}
