import NIOSSL

// MARK: - WebGatewayConfiguration

/// The web gateway's port and limits (PROTOCOL.md, "Web gateway").
public struct WebGatewayConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    /// Origins allowed to open the WebSocket besides the page's own (`https://chat.example.org`).
    public var allowedOrigins: Set<String>
    /// The longest request: a frame's text counts as the line.
    public var maximumLineLength: Int
    /// A WebSocket without a request for this long is closed.
    public var idleTimeout: Duration
    /// Requests a second a connection may make before its frames are read more slowly; nil
    /// for no limit.
    public var requestsPerSecond: Int?
    public var requestBurst: Int
    /// Serve HTTPS and WSS instead of HTTP and WS.
    public var tls: TLSConfiguration?
    /// When the port cannot be bound (in use), go on without the web client rather than
    /// stop the server: for a default port nobody asked for by name (`--demo`'s 8080).
    public var isOptional = false

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        allowedOrigins: Set<String> = [],
        maximumLineLength: Int = 16 * 1024,
        idleTimeout: Duration = .seconds(600),
        requestsPerSecond: Int? = 20_000,
        requestBurst: Int = 40_000,
        tls: TLSConfiguration? = nil
    ) {
        self.host = host
        self.port = port
        self.allowedOrigins = allowedOrigins
        self.maximumLineLength = maximumLineLength
        self.idleTimeout = idleTimeout
        self.requestsPerSecond = requestsPerSecond
        self.requestBurst = requestBurst
        self.tls = tls
    }

    /// The WebSocket layer's own bound on a frame (and on a message's fragments together):
    /// well above the line limit, so that a long line gets `Request Terlalu Panjang` like
    /// on TCP and the connection survives; a frame past it closes the connection (1009).
    public var maximumFrameSize: Int { max(4 * maximumLineLength, 64 * 1024) }

    /// The most event bytes held for a WebSocket that does not read them before it is closed.
    static let heldEventLimit = 1 << 20
}
