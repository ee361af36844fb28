import KabarProtocol
import Logging
import NIOCore

// MARK: - AdmissionHandler

/// Applies ``AdmissionControl`` to a new connection: a connection over a limit gets
/// `Server Penuh` and is closed, and nothing it sends reaches the handlers after this one.
/// An admitted connection holds its slot until it closes, and the handler leaves the
/// pipeline, so that its reads do not pass through it.
final class AdmissionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    private let admission: AdmissionControl
    private let logger: Logger

    init(admission: AdmissionControl, logger: Logger) {
        self.admission = admission
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if case .refused(let reason) = admission.admit(address) {
            ServerMetrics.connectionRefused(reason)
            logger.notice("connection refused: over a connection limit", metadata: ["peer": "\(address)", "limit": "\(reason.rawValue)"])
            let refusal = ReplyEncoder.encode(.refused(.serverFull), allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(refusal)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        let admission = self.admission
        context.channel.closeFuture.whenComplete { _ in admission.release(address) }
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Reached only by a refused connection's input, which goes no further.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
