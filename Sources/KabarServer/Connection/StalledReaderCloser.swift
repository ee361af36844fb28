import NIOCore

// MARK: - StalledReaderCloser

/// Closes a connection whose client stopped reading replies.
///
/// While the outbound buffer is over its high-water mark the channel is not writable;
/// the ``ConnectionHandler`` then dispatches no more requests and stops reading the
/// socket: memory stays bounded. If the channel stays unwritable
/// for `timeout`, the client is not coming back and the connection is closed.
final class StalledReaderCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var pendingClose: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            pendingClose?.cancel()
            pendingClose = nil
        } else if pendingClose == nil {
            pendingClose = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pendingClose?.cancel()
        pendingClose = nil
    }
}
