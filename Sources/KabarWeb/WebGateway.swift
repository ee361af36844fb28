import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import KabarCore
import KabarServer
import Logging
import NIOCore
import ServiceLifecycle

// MARK: - WebGateway

/// The HTTP port of `kabar-server` (PROTOCOL.md, "Web gateway"): the web client at `/`,
/// and the chat protocol over a WebSocket at `GET /ws`, driving the same ``ChatService``
/// as the TCP listeners through the transport-free ``RequestDispatcher``.
///
/// A WebSocket upgrade whose `Origin` is neither the page's own (the scheme and `Host` of
/// the request) nor an allowed one is refused with 403, so that another site's page
/// cannot open a chat connection with its visitor's browser (cross-site WebSocket
/// hijacking). Browsers always send their page's `http(s)://` origin (or `null`, which is
/// refused); a client that sends none, or one of another scheme (WebSocket libraries send
/// `ws://HOST`), is not a browser page, and is let in as a TCP client would be.
public final class WebGateway: Service, Sendable {
    private let configuration: WebGatewayConfiguration
    private let dispatcher: RequestDispatcher
    private let admission: AdmissionControl
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    /// - Parameters:
    ///   - admission: the connection limits shared with the TCP listeners.
    ///   - onListening: called once the port accepts connections, with its address.
    public init(
        configuration: WebGatewayConfiguration,
        service: ChatService,
        admission: AdmissionControl,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.dispatcher = RequestDispatcher(service: service)
        self.admission = admission
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router(context: GatewayRequestContext.self)
        for path in ["/", "/app.js", "/style.css"] {
            router.get(RouterPath(path)) { _, _ in WebPage.response(for: path) }
        }
        let (configuration, dispatcher, admission, logger) = (self.configuration, self.dispatcher, self.admission, self.logger)
        let isSecure = configuration.tls != nil
        router.ws("/ws") { request, _ in
            let origins = request.headers[values: .origin]
            guard origins.allSatisfy({ Self.isAllowed(origin: $0, host: request.head.authority, secure: isSecure, allowed: configuration.allowedOrigins) })
            else {
                logger.notice("web socket refused: foreign origin", metadata: ["origin": "\(origins.joined(separator: ", "))"])
                throw HTTPError(.forbidden, message: "origin not allowed")
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let session = WebChatSession(
                configuration: configuration,
                dispatcher: dispatcher,
                admission: admission,
                clientAddress: context.requestContext.remoteAddress?.ipAddress ?? "unknown",
                logger: logger
            )
            await session.run(inbound: inbound, outbound: outbound)
        }

        var server: HTTPServerBuilder = .http1WebSocketUpgrade(
            webSocketRouter: router,
            configuration: HTTP1WebSocketUpgradeChannel.Configuration(
                ws: WebSocketServerConfiguration(
                    maxFrameSize: configuration.maximumFrameSize,
                    autoPing: .enabled(timePeriod: .seconds(30)),
                    validateUTF8: false
                )
            )
        )
        if let tls = configuration.tls { server = try .tls(server, tlsConfiguration: tls) }
        let onListening = self.onListening
        let isListening = Locked(false)
        let application = Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "kabar"),
            onServerRunning: { channel in
                guard let address = channel.localAddress else { return }
                isListening.withLock { $0 = true }
                logger.info("listening", metadata: ["transport": "\(isSecure ? "https" : "http")", "address": "\(address)"])
                onListening(address)
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch where configuration.isOptional && !isListening.withLock({ $0 }) {
            logger.warning(
                "web client not served: the port could not be bound (--http-port picks another)",
                metadata: ["port": "\(configuration.port)", "error": "\(error)"]
            )
            try? await gracefulShutdown()
        }
    }

    /// Whether a WebSocket upgrade with this `Origin` may go ahead (one without is let in).
    static func isAllowed(origin: String, host: String?, secure: Bool, allowed: Set<String>) -> Bool {
        if allowed.contains(origin) { return true }
        let isBrowserOrigin = origin == "null" || origin.hasPrefix("http://") || origin.hasPrefix("https://")
        guard isBrowserOrigin else { return true }
        guard let host else { return false }
        return origin == "\(secure ? "https" : "http")://\(host)"
    }
}

/// A request's context, with the client's address (for the per-address limits and
/// throttles).
struct GatewayRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<GatewayRequestContext>
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
    }
}
