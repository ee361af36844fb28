import NIOCore

// MARK: - StalledReaderTimer

/// Closes a connection whose client stopped reading replies: part of the
/// ``ConnectionHandler``'s state, told of each change of the channel's writability.
///
/// While the outbound buffer is over its high-water mark the channel is not writable;
/// the connection handler then dispatches no more requests and stops reading the
/// socket: memory stays bounded. If the channel stays unwritable for `timeout`, the
/// client is not coming back and the connection is closed.
///
/// It is state in the connection handler rather than a handler of its own: a handler in
/// the pipeline would see every read go by, and these few lines need only writability.
struct StalledReaderTimer {
    private let timeout: TimeAmount
    private var pendingClose: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// Starts the timer when the channel has become unwritable, stops it when it is
    /// writable again.
    mutating func writabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            cancel()
        } else if pendingClose == nil {
            pendingClose = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        }
    }

    mutating func cancel() {
        pendingClose?.cancel()
        pendingClose = nil
    }
}
