import KabarProtocol
import Logging
import NIOCore

// MARK: - AdmissionHandler

/// Applies ``AdmissionControl`` to a new connection: a connection over a limit gets
/// `Server Penuh` and is closed, and nothing it sends reaches the handlers after this one.
final class AdmissionHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    private let admission: AdmissionControl
    private let logger: Logger
    /// The address holding a slot in ``AdmissionControl`` until the connection closes.
    private var admittedAddress: String?

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
        admittedAddress = address
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admittedAddress != nil else { return }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let address = admittedAddress {
            admission.release(address)
            admittedAddress = nil
        }
        context.fireChannelInactive()
    }
}
