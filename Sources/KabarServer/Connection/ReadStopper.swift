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
final class ReadStopper: ChannelDuplexHandler {
    typealias InboundIn = LineFramer.Frame
    typealias InboundOut = LineFramer.Frame
    typealias OutboundIn = NIOAny

    static let quietPeriod: TimeAmount = .milliseconds(50)

    private enum State {
        case reading
        /// Shutting down: reading what is already on its way.
        case draining(readAskedAt: NIODeadline?, check: Scheduled<Void>?)
        case stopped
    }

    private var state = State.reading
    /// Whether the connection asked for data and none has come since.
    private var isReadOutstanding = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        isReadOutstanding = false
        switch state {
        case .reading:
            context.fireChannelRead(data)
        case .draining(_, let check):
            state = .draining(readAskedAt: nil, check: check)
            context.fireChannelRead(data)
        case .stopped:
            break
        }
    }

    /// A read from the socket ended (it may have held no complete line).
    func channelReadComplete(context: ChannelHandlerContext) {
        isReadOutstanding = false
        switch state {
        case .reading:
            context.fireChannelReadComplete()
        case .draining(_, let check):
            state = .draining(readAskedAt: nil, check: check)
            context.fireChannelReadComplete()
        case .stopped:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Handlers after this one see the quiesce event too (the rate limiter lets its
        // held lines through at once).
        defer { context.fireUserInboundEventTriggered(event) }
        guard event is ConnectionQuiesceEvent, case .reading = state else { return }
        state = .draining(readAskedAt: isReadOutstanding ? .now() : nil, check: nil)
        scheduleCheck(context: context)
    }

    func read(context: ChannelHandlerContext) {
        switch state {
        case .reading:
            isReadOutstanding = true
            context.read()
        case .draining(let askedAt, let check):
            isReadOutstanding = true
            state = .draining(readAskedAt: askedAt ?? .now(), check: check)
            context.read()
        case .stopped:
            break
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .draining(_, let check) = state { check?.cancel() }
    }

    private func scheduleCheck(context: ChannelHandlerContext) {
        guard case .draining(let askedAt, _) = state else { return }
        let check = context.eventLoop.assumeIsolated().scheduleTask(in: Self.quietPeriod) { [self] in
            self.checkQuiet(context: context)
        }
        state = .draining(readAskedAt: askedAt, check: check)
    }

    private func checkQuiet(context: ChannelHandlerContext) {
        guard case .draining(let askedAt, _) = state else { return }
        guard let askedAt, .now() - askedAt >= Self.quietPeriod else {
            return scheduleCheck(context: context)
        }
        state = .stopped
        context.fireChannelReadComplete()
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
}
