import NIOCore

// MARK: - KabarServerConfiguration

/// How the server listens and what it tolerates from clients.
public struct KabarServerConfiguration: Sendable {
    /// The address to listen on (PROTOCOL.md default: loopback only).
    public var host: String
    /// The plain TCP port; 0 picks a free one (the server logs the port it bound).
    public var port: Int
    /// Whether the plain (unencrypted) listener runs.
    public var isPlainListenerEnabled: Bool
    /// The TLS listener, if the server was given a certificate and key.
    public var tls: TLSListenerConfiguration?
    /// The longest request line, in bytes, terminator excluded.
    public var maximumLineLength: Int
    /// A connection with no request for this long is closed.
    public var idleTimeout: Duration
    /// Request lines a second one connection may send before the server reads more slowly
    /// (a token bucket; nil for no limit).
    public var requestsPerSecond: Int?
    /// How many requests a connection may send at once above the rate.
    public var requestBurst: Int
    /// A connection whose client reads none of its replies for this long is closed.
    public var stalledReaderTimeout: Duration
    /// The most connections open at once; the next gets `Server Penuh`.
    public var maximumConnections: Int
    /// The most connections open at once from one address.
    public var maximumConnectionsPerAddress: Int
    /// The most new connections per minute from one address.
    public var maximumNewConnectionsPerMinute: Int
    /// Whether 127.0.0.1 and ::1 skip the per-address limits.
    public var exemptsLoopback: Bool
    /// How long connections are still read after a graceful shutdown begins, so that
    /// requests clients had already sent are answered (see ``ReadStopper``).
    public var shutdownDrainTime: Duration

    public init(
        host: String = "127.0.0.1",
        port: Int = 8889,
        isPlainListenerEnabled: Bool = true,
        tls: TLSListenerConfiguration? = nil,
        maximumLineLength: Int = 16 * 1024,
        idleTimeout: Duration = .seconds(600),
        requestsPerSecond: Int? = 20_000,
        requestBurst: Int = 40_000,
        stalledReaderTimeout: Duration = .seconds(30),
        maximumConnections: Int = 16_384,
        maximumConnectionsPerAddress: Int = 256,
        maximumNewConnectionsPerMinute: Int = 600,
        exemptsLoopback: Bool = true,
        shutdownDrainTime: Duration = .seconds(1)
    ) {
        self.host = host
        self.port = port
        self.isPlainListenerEnabled = isPlainListenerEnabled
        self.tls = tls
        self.maximumLineLength = maximumLineLength
        self.idleTimeout = idleTimeout
        self.requestsPerSecond = requestsPerSecond
        self.requestBurst = requestBurst
        self.stalledReaderTimeout = stalledReaderTimeout
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
        self.maximumNewConnectionsPerMinute = maximumNewConnectionsPerMinute
        self.exemptsLoopback = exemptsLoopback
        self.shutdownDrainTime = shutdownDrainTime
    }
}


extension Duration {
    /// The same span as NIO's `TimeAmount`.
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}

extension KabarServerConfiguration {
    /// The connection limits, for an ``AdmissionControl``.
    public var admissionLimits: AdmissionControl.Limits {
        AdmissionControl.Limits(
            maximumConnections: maximumConnections,
            maximumPerAddress: maximumConnectionsPerAddress,
            maximumNewPerMinute: maximumNewConnectionsPerMinute,
            exemptsLoopback: exemptsLoopback
        )
    }
}
