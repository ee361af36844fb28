import KabarProtocol
import NIOCore
import NIOPosix
import NIOSSL

// MARK: - KabarConnection

/// One client connection to a Kabar server (or the original Python one).
///
/// Requests may be sent concurrently; they are written in call order and each call gets
/// its own reply.
///
///     let connection = try await KabarConnection.connect(host: "127.0.0.1", port: 8889)
///     let token = try await connection.auth(username: "messi", password: "surabaya")
///     try await connection.sendMessage("hello", to: ["henderson"], token: token)
public final class KabarConnection: Sendable {
    public let channel: any Channel
    /// The events of the connection's subscription (after a `subscribe`), in the order the
    /// server wrote them; the stream ends when the connection closes.
    public let events: AsyncStream<LiveEvent>

    private init(channel: any Channel, events: AsyncStream<LiveEvent>) {
        self.channel = channel
        self.events = events
    }

    /// Connects to `host:port`, encrypted when `tls` is given.
    public static func connect(
        host: String,
        port: Int,
        tls: ClientTLS? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> KabarConnection {
        let tlsContext = try tls?.makeContext()
        let serverHostname = tls?.serverHostname(connectingTo: host)
        let (events, eventSink) = AsyncStream.makeStream(of: LiveEvent.self)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplyFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        RequestReplyHandler { event in
                            if let event { eventSink.yield(event) } else { eventSink.finish() }
                        }
                    )
                }
            }
            .connect(host: host, port: port)
            .get()
        return KabarConnection(channel: channel, events: events)
    }

    /// Sends `request` and waits for its reply.
    ///
    /// - Returns: the reply, or the server's refusal.
    /// - Throws: ``KabarClientError`` if the connection fails or the reply is malformed.
    public func execute(_ request: Request) async throws -> Result<Reply, ReplyDecoder.ServerRefusal> {
        let promise = channel.eventLoop.makePromise(of: Result<Reply, ReplyDecoder.ServerRefusal>.self)
        channel.writeAndFlush((request, promise)).whenFailure { error in
            promise.fail(error is ChannelError ? KabarClientError(code: .connectionClosed) : error)
        }
        return try await promise.futureResult.get()
    }

    /// Closes the connection.
    public func close() async throws {
        try await channel.close()
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }
}
