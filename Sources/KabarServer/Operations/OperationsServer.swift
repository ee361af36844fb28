import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

// MARK: - OperationsServer

/// The HTTP port for operators (`kabar-server --metrics-port`), on loopback by default:
///
/// - `GET /metrics`: the metrics in Prometheus's text format;
/// - `GET /healthz`: 200 while the process runs;
/// - `GET /readyz`: 200 once the store answers and the chat listeners accept connections,
///   503 otherwise.
public final class OperationsServer: Service, Sendable {
    private let host: String
    private let port: Int
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let metrics: @Sendable () -> [UInt8]
    private let isReady: @Sendable () async -> Bool
    private let onListening: @Sendable (SocketAddress) -> Void

    /// - Parameters:
    ///   - metrics: the text `/metrics` serves.
    ///   - isReady: what `/readyz` asks.
    public init(
        host: String,
        port: Int,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        metrics: @escaping @Sendable () -> [UInt8],
        isReady: @escaping @Sendable () async -> Bool,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.metrics = metrics
        self.isReady = isReady
        self.onListening = onListening
    }

    public func run() async throws {
        let (metrics, isReady) = (self.metrics, self.isReady)
        let listener = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(OperationsHandler(metrics: metrics, isReady: isReady))
                }
            }
            .bind(host: host, port: port)
            .get()
        if let address = listener.localAddress {
            logger.info("listening", metadata: ["transport": "operations", "address": "\(address)"])
            onListening(address)
        }
        await withGracefulShutdownHandler {
            try? await listener.closeFuture.get()
        } onGracefulShutdown: {
            listener.close(promise: nil)
        }
    }
}

/// Answers one HTTP connection's requests, one at a time.
private final class OperationsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: @Sendable () -> [UInt8]
    private let isReady: @Sendable () async -> Bool
    private var head: HTTPRequestHead?

    init(metrics: @escaping @Sendable () -> [UInt8], isReady: @escaping @Sendable () async -> Bool) {
        self.metrics = metrics
        self.isReady = isReady
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else {
            return respond(.methodNotAllowed, "only GET\n", head: head, context: context)
        }
        switch head.uri.split(separator: "?").first ?? "" {
        case "/metrics":
            respond(.ok, metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8", head: head, context: context)
        case "/healthz":
            respond(.ok, "ok\n", head: head, context: context)
        case "/readyz":
            let promise = context.eventLoop.makePromise(of: Bool.self)
            let isReady = self.isReady
            promise.completeWithTask { await isReady() }
            promise.futureResult.assumeIsolated().whenSuccess { ready in
                self.respond(ready ? .ok : .serviceUnavailable, ready ? "ready\n" : "not ready\n", head: head, context: context)
            }
        default:
            respond(.notFound, "not found\n", head: head, context: context)
        }
    }

    private func respond(_ status: HTTPResponseStatus, _ text: String, head: HTTPRequestHead, context: ChannelHandlerContext) {
        respond(status, Array(text.utf8), contentType: "text/plain; charset=utf-8", head: head, context: context)
    }

    private func respond(
        _ status: HTTPResponseStatus,
        _ body: [UInt8],
        contentType: String,
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.count)")])
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
