import ArgumentParser
import KabarCore
import KabarServer
import KabarSQLite
import KabarWeb
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import UnixSignals

// MARK: - serve

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the server (the default).")

    @Option(help: "Address to listen on (KABAR_HOST).")
    var host: String = Environment.string("KABAR_HOST") ?? "127.0.0.1"

    @Option(help: "Plain TCP port; 0 picks a free one (KABAR_PORT).")
    var port: Int = Environment.int("KABAR_PORT") ?? 8889

    @Flag(inversion: .prefixedNo, help: "Run the plain (unencrypted) listener (KABAR_PLAIN=0 turns it off).")
    var plain: Bool = Environment.bool("KABAR_PLAIN", default: true)

    @Option(help: "PEM certificate chain for the TLS listener (KABAR_TLS_CERT).")
    var tlsCert: String?

    @Option(help: "PEM private key for the TLS listener (KABAR_TLS_KEY).")
    var tlsKey: String?

    private var certificatePath: String? { tlsCert ?? Environment.string("KABAR_TLS_CERT") }
    private var privateKeyPath: String? { tlsKey ?? Environment.string("KABAR_TLS_KEY") }

    @Option(help: "TLS port; 0 picks a free one (KABAR_TLS_PORT).")
    var tlsPort: Int = Environment.int("KABAR_TLS_PORT") ?? 8890

    @OptionGroup var store: StoreOptions

    @Flag(inversion: .prefixedNo, help: "Create the seed's demo users messi, henderson and lineker (password surabaya) if missing (KABAR_DEMO).")
    var demo: Bool = Environment.bool("KABAR_DEMO")

    @Option(help: "Whether `register` creates accounts: open or closed (KABAR_REGISTRATION).")
    var registration: Registration = Environment.string("KABAR_REGISTRATION").flatMap { Registration(rawValue: $0) } ?? .open

    @Option(help: "Longest request line in bytes (KABAR_MAX_LINE_BYTES).")
    var maxLineBytes: Int = Environment.int("KABAR_MAX_LINE_BYTES") ?? 16 * 1024

    @Option(help: "Seconds without a request before a connection is closed (KABAR_IDLE_TIMEOUT).")
    var idleTimeout: Int = Environment.int("KABAR_IDLE_TIMEOUT") ?? 600

    @Option(help: "Seconds without use before a session expires (KABAR_SESSION_TTL).")
    var sessionTTL: Int = Environment.int("KABAR_SESSION_TTL") ?? 86_400

    @Option(help: "Requests a second per connection before the server reads more slowly; 0 for no limit (KABAR_MAX_REQUESTS_PER_SECOND).")
    var maxRequestsPerSecond: Int = Environment.int("KABAR_MAX_REQUESTS_PER_SECOND") ?? 20_000

    @Option(help: "Requests a connection may send at once above that rate (KABAR_REQUEST_BURST).")
    var requestBurst: Int = Environment.int("KABAR_REQUEST_BURST") ?? 40_000

    @Option(help: "Seconds a client may leave its replies unread before it is disconnected (KABAR_STALLED_READER_TIMEOUT).")
    var stalledReaderTimeout: Int = Environment.int("KABAR_STALLED_READER_TIMEOUT") ?? 30

    @Option(help: "Most connections open at once (KABAR_MAX_CONNECTIONS).")
    var maxConnections: Int = Environment.int("KABAR_MAX_CONNECTIONS") ?? 16_384

    @Option(help: "Most connections open at once from one address (KABAR_MAX_CONNECTIONS_PER_ADDRESS).")
    var maxConnectionsPerAddress: Int = Environment.int("KABAR_MAX_CONNECTIONS_PER_ADDRESS") ?? 256

    @Option(help: "Most new connections per minute from one address (KABAR_MAX_NEW_CONNECTIONS_PER_MINUTE).")
    var maxNewConnectionsPerMinute: Int = Environment.int("KABAR_MAX_NEW_CONNECTIONS_PER_MINUTE") ?? 600

    @Flag(inversion: .prefixedNo, help: "Apply the per-address limits to 127.0.0.1 and ::1 too (KABAR_LIMIT_LOOPBACK).")
    var limitLoopback: Bool = Environment.bool("KABAR_LIMIT_LOOPBACK")

    @Option(help: "Failed auths per username within 5 minutes before a 60 s block (KABAR_AUTH_FAILURES_PER_USER).")
    var authFailuresPerUser: Int = Environment.int("KABAR_AUTH_FAILURES_PER_USER") ?? 10

    @Option(help: "Failed auths per client address within 5 minutes before a 60 s block (KABAR_AUTH_FAILURES_PER_ADDRESS).")
    var authFailuresPerAddress: Int = Environment.int("KABAR_AUTH_FAILURES_PER_ADDRESS") ?? 50

    @Option(help: "Event-loop threads (KABAR_THREADS).")
    var threads: Int = Environment.int("KABAR_THREADS") ?? System.coreCount

    @Option(help: "Port for /metrics (Prometheus), /healthz and /readyz; off unless given; 0 picks a free one (KABAR_METRICS_PORT).")
    var metricsPort: Int?

    private var operationsPort: Int? { metricsPort ?? Environment.int("KABAR_METRICS_PORT") }

    @Option(help: "Address of the metrics port (KABAR_METRICS_HOST).")
    var metricsHost: String = Environment.string("KABAR_METRICS_HOST") ?? "127.0.0.1"

    @Option(help: "Port for the web client and the WebSocket gateway (HTTPS with --tls-cert); off unless given, 8080 with --demo; 0 picks a free one (KABAR_HTTP_PORT).")
    var httpPort: Int?

    /// The web port: given, from the environment, or the demo's.
    private var webPort: Int? { httpPort ?? Environment.int("KABAR_HTTP_PORT") ?? (demo ? 8080 : nil) }

    @Option(help: "An origin besides the page's own that may open the WebSocket, e.g. https://chat.example.org; repeatable (KABAR_ALLOWED_ORIGINS, comma-separated).")
    var allowedOrigin: [String] = []

    @Option(help: "Seconds allowed for a graceful shutdown (KABAR_SHUTDOWN_TIMEOUT).")
    var shutdownTimeout: Int = Environment.int("KABAR_SHUTDOWN_TIMEOUT") ?? 10

    @OptionGroup var logging: LoggingOptions

    enum Registration: String, ExpressibleByArgument {
        case open, closed
    }

    func validate() throws {
        guard (certificatePath == nil) == (privateKeyPath == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        guard plain || certificatePath != nil else { throw ValidationError("--no-plain needs a TLS listener (--tls-cert and --tls-key)") }
        guard maxLineBytes > 0, idleTimeout > 0, sessionTTL > 0, maxConnections > 0, threads > 0 else {
            throw ValidationError("limits, timeouts and thread counts must be positive")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        let metricsRegistry = operationsPort.map { _ in MetricsBootstrap.prometheus() }
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: threads)

        let credentials = try certificatePath.map { try TLSCredentials(certificatePath: $0, privateKeyPath: privateKeyPath ?? "") }
        let opened = try await store.open(logger: logger)
        let serviceConfiguration = ChatServiceConfiguration(
            isRegistrationOpen: registration == .open,
            sessionIdleLimit: .seconds(sessionTTL),
            authThrottle: AuthThrottle.Configuration(
                failuresPerUsername: authFailuresPerUser,
                failuresPerAddress: authFailuresPerAddress,
                window: .seconds(300),
                blockDuration: .seconds(60)
            )
        )
        let (coordination, nodeService) = try await opened.joinAsNode(serviceConfiguration)
        let service = ChatService(
            store: opened.store,
            hasher: ScryptPasswordHasher(),
            configuration: serviceConfiguration,
            coordination: coordination
        )
        if demo {
            let created = try await DemoUsers.ensureExist(in: service)
            logger.info("demo users ready", metadata: ["created": "\(created.map(\.text))"])
        }
        let serverConfiguration = KabarServerConfiguration(
            host: host,
            port: port,
            isPlainListenerEnabled: plain,
            tls: credentials.map { TLSListenerConfiguration(port: tlsPort, credentials: $0) },
            maximumLineLength: maxLineBytes,
            idleTimeout: .seconds(idleTimeout),
            requestsPerSecond: maxRequestsPerSecond > 0 ? maxRequestsPerSecond : nil,
            requestBurst: requestBurst,
            stalledReaderTimeout: .seconds(stalledReaderTimeout),
            maximumConnections: maxConnections,
            maximumConnectionsPerAddress: maxConnectionsPerAddress,
            maximumNewConnectionsPerMinute: maxNewConnectionsPerMinute,
            exemptsLoopback: !limitLoopback
        )
        let admission = AdmissionControl(limits: serverConfiguration.admissionLimits)
        let server = KabarServer(
            configuration: serverConfiguration,
            service: service,
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            admission: admission
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: opened.service),
        ]
        if let nodeService { services.append(.init(service: nodeService)) }
        if let operationsPort, let metricsRegistry {
            let store = opened.store
            let operations = OperationsServer(
                host: metricsHost,
                port: operationsPort,
                eventLoopGroup: eventLoopGroup,
                logger: logger,
                metrics: { metricsRegistry.emitToBuffer() },
                isReady: {
                    guard server.isListening else { return false }
                    return (try? await store.checkReachable()) != nil
                }
            )
            services.append(.init(service: operations))
        }
        if let webPort {
            let origins = allowedOrigin + (Environment.string("KABAR_ALLOWED_ORIGINS")?.split(separator: ",").map(String.init) ?? [])
            var webConfiguration = WebGatewayConfiguration(
                host: host,
                port: webPort,
                allowedOrigins: Set(origins),
                maximumLineLength: maxLineBytes,
                idleTimeout: .seconds(idleTimeout),
                requestsPerSecond: maxRequestsPerSecond > 0 ? maxRequestsPerSecond : nil,
                requestBurst: requestBurst,
                tls: try credentials?.serverConfiguration()
            )
            // --demo's web port is a convenience: if 8080 is taken, the chat server still runs.
            webConfiguration.isOptional = httpPort == nil && Environment.int("KABAR_HTTP_PORT") == nil
            let gateway = WebGateway(
                configuration: webConfiguration,
                service: service,
                admission: admission,
                logger: logger
            )
            services.append(.init(service: gateway))
        }
        services += [
            .init(service: server),
        ]
        if let credentials { services.append(.init(service: CertificateReloadService(credentials: credentials, logger: logger))) }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(shutdownTimeout)
        try await ServiceGroup(configuration: groupConfiguration).run()
        try await eventLoopGroup.shutdownGracefully()
    }
}
