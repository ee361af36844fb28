import KabarCore
import NIOCore
import NIOPosix

// MARK: - TCPRelay

/// A loopback TCP relay that forwards every byte between its clients and a target port,
/// and keeps a copy of everything that crossed it: what an eavesdropper on the network
/// would capture.
public final class TCPRelay: Sendable {
    public let port: Int
    private let listener: any Channel
    private let capture: ByteCapture

    /// Every byte that crossed the relay, in both directions.
    public var capturedBytes: [UInt8] { capture.bytes.withLock { $0 } }

    public init(forwardingTo targetPort: Int) async throws {
        let capture = ByteCapture()
        listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        inbound.pipeline.addHandler(RelayHandler(partner: outbound, capture: capture))
                            .and(outbound.pipeline.addHandler(RelayHandler(partner: inbound, capture: capture)))
                            .map { _ in }
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = listener.localAddress!.port!
        self.capture = capture
    }

    public func close() async {
        try? await listener.close()
    }
}

private final class ByteCapture: Sendable {
    let bytes = Locked<[UInt8]>([])
}

/// One side of a relayed connection: copies what it reads to the other side.
private final class RelayHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let partner: any Channel
    let capture: ByteCapture

    init(partner: any Channel, capture: ByteCapture) {
        self.partner = partner
        self.capture = capture
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        capture.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        partner.writeAndFlush(buffer, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }
}
