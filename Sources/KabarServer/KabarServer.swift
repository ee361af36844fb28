import KabarCore
import KabarProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

// MARK: - KabarServer

/// The Kabar TCP server: a plain listener, a TLS listener or both, one child task per
/// connection, and graceful shutdown as a `Service`.
///
/// On graceful shutdown it stops accepting, stops reading from every connection
/// (``ConnectionQuiesceEvent``), answers every request already read, then closes the
/// connections; `run()` returns when the last one has closed.
public final class KabarServer: Service, Sendable {
    public let configuration: KabarServerConfiguration
    private let dispatcher: RequestDispatcher
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let admission: AdmissionControl
    private let nextConnectionID = Atomic<UInt64>(1)
    private let onListening: @Sendable (Transport, SocketAddress) -> Void

    /// - Parameters:
    ///   - service: the chat service that answers requests.
    ///   - eventLoopGroup: where the sockets live; shared with other parts if wanted.
    ///   - onListening: called once per listener when it accepts connections, with its
    ///     address (the real port when the configured port is 0).
    public init(
        configuration: KabarServerConfiguration,
        service: ChatService,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        onListening: @escaping @Sendable (Transport, SocketAddress) -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.dispatcher = RequestDispatcher(service: service)
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
        self.admission = AdmissionControl(
            limits: AdmissionControl.Limits(
                maximumConnections: configuration.maximumConnections,
                maximumPerAddress: configuration.maximumConnectionsPerAddress,
                maximumNewPerMinute: configuration.maximumNewConnectionsPerMinute,
                exemptsLoopback: configuration.exemptsLoopback
            )
        )
    }

    public func run() async throws {
        let fileLimit = OpenFileLimit.raise(toAtLeast: configuration.maximumConnections + 256)
        var bound: [(Transport, Listener)] = []
        if configuration.isPlainListenerEnabled {
            bound.append((.plain, try await bindListener(port: configuration.port, tls: nil)))
        }
        if let tls = configuration.tls {
            bound.append((.tls, try await bindListener(port: tls.port, tls: tls.credentials)))
        }
        let listeners = bound
        guard !listeners.isEmpty else { throw KabarServerError.noListener }
        for (transport, listener) in listeners {
            guard let address = listener.channel.localAddress else { continue }
            logger.info(
                "listening",
                metadata: ["transport": "\(transport)", "address": "\(address)", "open-file-limit": "\(fileLimit)"]
            )
            onListening(transport, address)
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                for (_, listener) in listeners {
                    group.addTask { try await self.acceptConnections(from: listener) }
                }
            }
        } onGracefulShutdown: {
            for (_, listener) in listeners { listener.channel.close(promise: nil) }
        }
        logger.info("stopped")
    }

    // MARK: - Listeners

    private typealias Connection = NIOAsyncChannel<LineFramer.Frame, ByteBuffer>
    private typealias Listener = NIOAsyncChannel<Connection, Never>

    private func acceptConnections(from listener: Listener) async throws {
        // A discarding group: finished connections leave no result behind, so memory
        // does not grow with the number of connections served.
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    private func bindListener(port: Int, tls: TLSCredentials?) async throws -> Listener {
        let configuration = self.configuration
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: configuration.host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls.context)) }
                    try pipeline.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maximumLineLength: configuration.maximumLineLength))
                    )
                    if let rate = configuration.requestsPerSecond {
                        try pipeline.addHandler(RequestRateLimiter(requestsPerSecond: rate, burst: configuration.requestBurst))
                    }
                    try pipeline.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout.timeAmount))
                    try pipeline.addHandler(IdleConnectionCloser())
                    try pipeline.addHandler(StalledReaderCloser(timeout: configuration.stalledReaderTimeout.timeAmount))
                    try pipeline.addHandler(ReadStopper())
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
    }

    // MARK: - Connections

    private func serve(_ connection: Connection) async {
        let channel = connection.channel
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
        var logger = self.logger
        logger[metadataKey: "connection"] = "\(id)"

        guard admission.admit(address) == .admitted else {
            logger.notice("connection refused: over a connection limit", metadata: ["peer": "\(address)"])
            try? await connection.executeThenClose { _, outbound in
                try await outbound.write(ReplyEncoder.encode(.refused(.serverFull), allocator: channel.allocator))
            }
            return
        }
        defer { admission.release(address) }

        logger.info("connection opened", metadata: ["peer": "\(address)"])
        var context = ConnectionContext(id: id, clientAddress: address)
        do {
            try await withGracefulShutdownHandler {
                try await connection.executeThenClose { requests, replies in
                    for try await frame in requests {
                        guard let reply = await respond(to: frame, on: &context, logger: logger) else { continue }
                        try await replies.write(ReplyEncoder.encode(reply, allocator: channel.allocator))
                    }
                }
            } onGracefulShutdown: {
                // Stop reading; the requests already read are still answered.
                channel.pipeline.fireUserInboundEventTriggered(ConnectionQuiesceEvent())
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
        dispatcher.service.connectionClosed(context)
        logger.info("connection closed")
    }

    /// The reply to one frame, or nil for a line that gets none (empty after trimming).
    private func respond(to frame: LineFramer.Frame, on context: inout ConnectionContext, logger: Logger) async -> Reply? {
        let request: Request
        switch frame {
        case .tooLong:
            return .refused(.requestTooLong)
        case .line(let line):
            switch RequestParser.parse(line: line) {
            case nil: return nil
            case .failure(let refusal)?: return .refused(refusal)
            case .success(let parsed)?: request = parsed
            }
        }
        let reply: Reply
        do {
            reply = try await dispatcher.respond(to: request, on: &context)
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            reply = .refused(.serverFailure)
        }
        if case .auth(let username, _) = request { logAuth(username: username, reply: reply, logger: logger) }
        return reply
    }

    private func logAuth(username: String, reply: Reply, logger: Logger) {
        switch reply {
        case .loggedIn(let token):
            logger.info("auth succeeded", metadata: ["user": "\(username.prefix(32))", "token": "\(token.redacted)"])
        case .refused(let refusal):
            logger.notice("auth refused", metadata: ["user": "\(username.prefix(32))", "reason": "\(refusal.wireText)"])
        default:
            break
        }
    }
}

/// Why the server could not run.
public enum KabarServerError: Error, Hashable, Sendable {
    /// The plain listener is off and no TLS listener is configured.
    case noListener
}
