import NIOCore

// MARK: - IdleConnectionCloser

/// Closes the connection when NIO's `IdleStateHandler` reports that no request arrived
/// within the idle timeout.
///
/// It sits after the line decoder, so only complete request lines count as activity: a
/// client trickling bytes of a line that never ends does not keep its slot.
final class IdleConnectionCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
