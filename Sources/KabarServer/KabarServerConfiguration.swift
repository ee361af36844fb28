// MARK: - KabarServerConfiguration

/// How the server listens and what it tolerates from clients.
public struct KabarServerConfiguration: Sendable {
    /// The address to listen on (PROTOCOL.md default: loopback only).
    public var host: String
    /// The plain TCP port; 0 picks a free one (see ``KabarServer/boundPort``).
    public var port: Int
    /// The longest request line, in bytes, terminator excluded.
    public var maximumLineLength: Int
    /// A connection with no request for this long is closed.
    public var idleTimeout: Duration
    /// The most connections open at once; the next gets `Server Penuh`.
    public var maximumConnections: Int
    /// The most connections open at once from one address.
    public var maximumConnectionsPerAddress: Int
    /// The most new connections per minute from one address.
    public var maximumNewConnectionsPerMinute: Int
    /// Whether 127.0.0.1 and ::1 skip the per-address limits.
    public var exemptsLoopback: Bool
    /// Event-loop threads.
    public var eventLoopThreads: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 8889,
        maximumLineLength: Int = 16 * 1024,
        idleTimeout: Duration = .seconds(600),
        maximumConnections: Int = 16_384,
        maximumConnectionsPerAddress: Int = 256,
        maximumNewConnectionsPerMinute: Int = 600,
        exemptsLoopback: Bool = true,
        eventLoopThreads: Int = System.coreCountForEventLoops
    ) {
        self.host = host
        self.port = port
        self.maximumLineLength = maximumLineLength
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
        self.maximumNewConnectionsPerMinute = maximumNewConnectionsPerMinute
        self.exemptsLoopback = exemptsLoopback
        self.eventLoopThreads = eventLoopThreads
    }
}

import NIOCore

extension System {
    /// One event loop per core.
    public static var coreCountForEventLoops: Int { System.coreCount }
}
