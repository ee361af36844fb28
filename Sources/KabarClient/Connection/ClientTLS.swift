import NIOSSL

// MARK: - ClientTLS

/// How a client encrypts its connection and whom it trusts.
public struct ClientTLS: Sendable {
    /// Which certificates the client accepts.
    public enum Trust: Sendable {
        /// The system's trust store.
        case system
        /// Only certificates issued by the CA certificates in this PEM file.
        case certificateAuthorityFile(String)
        /// Anything: no verification at all. For testing only.
        case insecureAnything
    }

    public var trust: Trust
    /// The name checked against the server's certificate and sent as SNI; nil means the
    /// host the client connects to (an IP address is then checked against IP entries).
    public var serverName: String?

    public init(trust: Trust = .system, serverName: String? = nil) {
        self.trust = trust
        self.serverName = serverName
    }

    /// A TLS context for this setting (TLS 1.2 or later).
    public func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch trust {
        case .system:
            configuration.trustRoots = .default
        case .certificateAuthorityFile(let path):
            configuration.trustRoots = .file(path)
        case .insecureAnything:
            configuration.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The SNI host name for `host`: nil for IP literals, which SNI does not allow.
    public func serverHostname(connectingTo host: String) -> String? {
        let name = serverName ?? host
        let isIPAddress = name.contains(":") || name.split(separator: ".").allSatisfy { UInt8($0) != nil }
        return isIPAddress ? nil : name
    }
}
