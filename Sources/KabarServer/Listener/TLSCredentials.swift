import KabarCore
import NIOSSL

// MARK: - TLSCredentials

/// The server's certificate chain and private key, read from PEM files, reloadable
/// without dropping connections.
///
/// Each new TLS connection takes the context current at its accept; ``reload()``
/// swaps in a context built from the files as they are now, so connections already
/// open keep theirs. TLS 1.2 is the minimum; ciphers are swift-nio-ssl's modern defaults.
public final class TLSCredentials: Sendable {
    public let certificatePath: String
    public let privateKeyPath: String
    private let current: Locked<NIOSSLContext>

    /// Reads the files. - Throws: if they cannot be read or do not form a usable pair.
    public init(certificatePath: String, privateKeyPath: String) throws {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.current = Locked(try Self.makeContext(certificatePath: certificatePath, privateKeyPath: privateKeyPath))
    }

    /// Rereads the files; on failure the previous credentials stay in use.
    public func reload() throws {
        let fresh = try Self.makeContext(certificatePath: certificatePath, privateKeyPath: privateKeyPath)
        current.withLock { $0 = fresh }
    }

    /// The context for a new connection.
    var context: NIOSSLContext { current.withLock { $0 } }

    private static func makeContext(certificatePath: String, privateKeyPath: String) throws -> NIOSSLContext {
        try NIOSSLContext(configuration: serverConfiguration(certificatePath: certificatePath, privateKeyPath: privateKeyPath))
    }

    /// The files' certificate and key as a server configuration (TLS 1.2 or later), for
    /// other listeners on the same credentials (the web gateway's HTTPS).
    public func serverConfiguration() throws -> TLSConfiguration {
        try Self.serverConfiguration(certificatePath: certificatePath, privateKeyPath: privateKeyPath)
    }

    private static func serverConfiguration(certificatePath: String, privateKeyPath: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

/// Where the TLS listener listens and with which credentials.
public struct TLSListenerConfiguration: Sendable {
    /// The TLS port; 0 picks a free one.
    public var port: Int
    public var credentials: TLSCredentials

    public init(port: Int = 8890, credentials: TLSCredentials) {
        self.port = port
        self.credentials = credentials
    }
}

/// Which listener a connection came through.
public enum Transport: String, Sendable {
    case plain
    case tls
}
