import KabarProtocol
import NIOCore

// MARK: - ConnectionQuiesceEvent

/// Sent through a connection's pipeline at graceful shutdown: stop reading requests.
struct ConnectionQuiesceEvent: Sendable {}

// MARK: - ReadStopper

/// Ends the stream of requests at graceful shutdown, for plain and TLS connections alike.
///
/// On ``ConnectionQuiesceEvent`` it stops asking the socket for data, drops anything read
/// after that, and tells the ``ConnectionHandler`` that input has ended; it then answers
/// the requests already read and closes the connection.
final class ReadStopper: ChannelDuplexHandler {
    typealias InboundIn = LineFramer.Frame
    typealias InboundOut = LineFramer.Frame
    typealias OutboundIn = NIOAny

    private var isStopped = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isStopped else { return }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ConnectionQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard !isStopped else { return }
        isStopped = true
        context.fireChannelReadComplete()
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    func read(context: ChannelHandlerContext) {
        guard !isStopped else { return }
        context.read()
    }
}
