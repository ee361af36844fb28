import KabarCore
import KabarProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

// MARK: - KabarServer

/// The Kabar TCP server: a plain listener, a TLS listener or both, a
/// ``ConnectionHandler`` per connection, and graceful shutdown as a `Service`.
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
    private let connections = ConnectionRegistry()
    private let onListening: @Sendable (Transport, SocketAddress) -> Void
    private let listening = Atomic<Bool>(false)

    /// Whether every configured listener accepts connections (false before they are bound
    /// and from the start of shutdown).
    public var isListening: Bool { listening.load(ordering: .relaxed) }

    /// - Parameters:
    ///   - service: the chat service that answers requests.
    ///   - eventLoopGroup: where the sockets live; shared with other parts if wanted.
    ///   - admission: the connection limits, when other front ends share them (the web
    ///     gateway); by default its own, from `configuration`.
    ///   - onListening: called once per listener when it accepts connections, with its
    ///     address (the real port when the configured port is 0).
    public init(
        configuration: KabarServerConfiguration,
        service: ChatService,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        admission: AdmissionControl? = nil,
        onListening: @escaping @Sendable (Transport, SocketAddress) -> Void = { _, _ in }
    ) {
        ServerMetrics.prepare()
        self.configuration = configuration
        self.dispatcher = RequestDispatcher(service: service)
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
        self.admission = admission ?? AdmissionControl(limits: configuration.admissionLimits)
    }

    public func run() async throws {
        let fileLimit = OpenFileLimit.raise(toAtLeast: configuration.maximumConnections + 256)
        var bound: [(Transport, any Channel)] = []
        do {
            if configuration.isPlainListenerEnabled {
                bound.append((.plain, try await bindListener(port: configuration.port, tls: nil)))
            }
            if let tls = configuration.tls {
                bound.append((.tls, try await bindListener(port: tls.port, tls: tls.credentials)))
            }
        } catch {
            for (_, listener) in bound { try? await listener.close() }
            throw error
        }
        let listeners = bound.map(\.1)
        guard !listeners.isEmpty else { throw KabarServerError.noListener }
        for (transport, listener) in bound {
            guard let address = listener.localAddress else { continue }
            logger.info(
                "listening",
                metadata: ["transport": "\(transport)", "address": "\(address)", "open-file-limit": "\(fileLimit)"]
            )
            onListening(transport, address)
        }
        listening.store(true, ordering: .relaxed)
        defer { listening.store(false, ordering: .relaxed) }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                for listener in listeners { try? await listener.closeFuture.get() }
                await connections.waitUntilEmpty()
            } onCancel: {
                for listener in listeners { listener.close(promise: nil) }
                connections.closeAll()
            }
        } onGracefulShutdown: {
            self.listening.store(false, ordering: .relaxed)
            for listener in listeners { listener.close(promise: nil) }
            let drainTime = self.configuration.shutdownDrainTime.timeAmount
            self.connections.quiesceAll { ReadStopper.quiesce($0, drainTime: drainTime) }
        }
        logger.info("stopped")
    }

    // MARK: - Listeners

    private func bindListener(port: Int, tls: TLSCredentials?) async throws -> any Channel {
        try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Each connection keeps its last receive buffer for the next read: start it
            // small, since most requests are short lines; it grows for bursts.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try self.prepare(channel, tls: tls) }
            }
            .bind(host: configuration.host, port: port)
            .get()
    }

    /// Builds a new connection's pipeline, on its event loop.
    private func prepare(_ channel: any Channel, tls: TLSCredentials?) throws {
        guard connections.register(channel) else {
            channel.close(promise: nil)
            return
        }
        let context = dispatcher.service.newConnection(clientAddress: channel.remoteAddress?.ipAddress ?? "unknown")
        var logger = self.logger
        logger[metadataKey: "connection"] = "\(context.id)"

        let pipeline = channel.pipeline.syncOperations
        if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls.context)) }
        // A handler here sees every read go by, so a running connection's pipeline holds
        // the connection handler alone (after TLS's): the admission handler leaves once
        // the connection is admitted, and the read stopper comes at shutdown
        // (``ReadStopper/quiesce(_:drainTime:)``).
        try pipeline.addHandler(AdmissionHandler(admission: admission, logger: logger))
        let limits = ConnectionHandler.Limits(
            maximumLineLength: configuration.maximumLineLength,
            idleTimeout: configuration.idleTimeout.timeAmount,
            stalledReaderTimeout: configuration.stalledReaderTimeout.timeAmount,
            requestRate: configuration.requestsPerSecond.map { ($0, configuration.requestBurst) }
        )
        try pipeline.addHandler(ConnectionHandler(dispatcher: dispatcher, connection: context, limits: limits, logger: logger))
    }
}

/// Why the server could not run.
public enum KabarServerError: Error, Hashable, Sendable {
    /// The plain listener is off and no TLS listener is configured.
    case noListener
}
