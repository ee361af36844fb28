import KabarCore
import NIOCore
import NIOPosix

// MARK: - RawClient

/// A plain TCP client that sends bytes and reads back exactly what the server wrote.
/// Every read has a timeout.
public final class RawClient: Sendable {
    private let channel: any Channel
    private let collector: ByteCollector

    private init(channel: any Channel, collector: ByteCollector) {
        self.channel = channel
        self.collector = collector
    }

    /// - Parameter localHost: the source address to connect from (e.g. 127.0.0.2).
    public static func connect(port: Int, host: String = "127.0.0.1", localHost: String? = nil) async throws -> RawClient {
        let collector = ByteCollector()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let localHost { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localHost, port: 0)) }
        let channel = try await bootstrap
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteCollectorHandler(collector: collector))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RawClient(channel: channel, collector: collector)
    }

    /// Sends `text` as UTF-8.
    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    /// Sends raw bytes.
    public func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Reads the next reply, including its `\r\n\r\n`.
    public func readReply(timeout: Duration = .seconds(10 * testTimeScale)) async throws -> String {
        try await waitFor(timeout) { $0.takeReply() }
    }

    /// Reads `count` replies.
    public func readReplies(_ count: Int, timeout: Duration = .seconds(10 * testTimeScale)) async throws -> [String] {
        var replies: [String] = []
        for _ in 0..<count { replies.append(try await readReply(timeout: timeout)) }
        return replies
    }

    /// Waits until the server closes the connection; returns the bytes it sent meanwhile.
    public func readUntilClosed(timeout: Duration = .seconds(10 * testTimeScale)) async throws -> String {
        try await waitFor(timeout) { $0.takeAllIfClosed() }
    }

    /// Whether the server has closed the connection.
    public var isClosed: Bool { collector.state.withLock { $0.isClosed } }

    /// The error that ended the connection (a reset, for one), if it did not end cleanly.
    public var endingError: String? { collector.state.withLock { $0.endingError } }

    /// Bytes received and not read yet.
    public var pendingText: String { collector.state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

    /// Half-closes: tells the server that no more requests will come.
    public func shutdownOutput() async throws {
        try await channel.close(mode: .output)
    }

    public func close() async {
        try? await channel.close()
    }

    private func waitFor<T>(_ timeout: Duration, _ take: (inout ByteCollector.State) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = collector.state.withLock({ take(&$0) }) { return value }
            if collector.state.withLock({ $0.isClosed }) {
                if let value = collector.state.withLock({ take(&$0) }) { return value }
                throw RawClientError.closed(pending: pendingText)
            }
            guard ContinuousClock.now < deadline else { throw RawClientError.timedOut(pending: pendingText) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

public enum RawClientError: Error, Equatable {
    case timedOut(pending: String)
    case closed(pending: String)
}

/// Bytes received on a ``RawClient``'s connection.
final class ByteCollector: Sendable {
    struct State {
        var bytes: [UInt8] = []
        var isClosed = false
        var endingError: String?

        mutating func takeReply() -> String? {
            let terminator: [UInt8] = Array("\r\n\r\n".utf8)
            guard let range = bytes.firstRange(of: terminator) else { return nil }
            let reply = String(decoding: bytes[..<range.upperBound], as: UTF8.self)
            bytes.removeFirst(range.upperBound)
            return reply
        }

        mutating func takeAllIfClosed() -> String? {
            guard isClosed else { return nil }
            defer { bytes = [] }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    let state = Locked(State())
}

private final class ByteCollectorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let collector: ByteCollector

    init(collector: ByteCollector) {
        self.collector = collector
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        collector.state.withLock { $0.bytes.append(contentsOf: buffer.readableBytesView) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { markClosed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        markClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        collector.state.withLock { $0.endingError = $0.endingError ?? "\(error)" }
        markClosed()
        context.close(promise: nil)
    }

    private func markClosed() {
        collector.state.withLock { $0.isClosed = true }
    }
}

extension RawClient {
    /// Sends one request line (adding `\r\n`) and returns its reply.
    public func request(_ line: String, timeout: Duration = .seconds(10 * testTimeScale)) async throws -> String {
        try await send(line + "\r\n")
        return try await readReply(timeout: timeout)
    }

    /// Logs in and returns the token.
    public func login(
        _ username: String,
        password: String = "surabaya",
        timeout: Duration = .seconds(10 * testTimeScale)
    ) async throws -> String {
        let reply = try await request("auth \(username) \(password)", timeout: timeout)
        guard let token = Expected.token(inAuthReply: reply) else { throw RawClientError.closed(pending: reply) }
        return token
    }
}
