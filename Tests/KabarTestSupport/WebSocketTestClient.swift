import HTTPTypes
import HummingbirdWSClient
import KabarCore
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket

// MARK: - WebSocketTestClient

/// A WebSocket client for the gateway tests: sends frames as given (text, binary, any
/// bytes) and reads the server's text frames one at a time.
public final class WebSocketTestClient: Sendable {
    /// What to send.
    public enum Outgoing: Sendable {
        case text(String)
        case binary([UInt8])
        /// A text frame of raw bytes, which need not be UTF-8.
        case rawText([UInt8])
    }

    private struct Inbox {
        var frames: [String] = []
        var isClosed = false
        var upgradeError: (any Error)?
        var isOpen = false
    }

    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let task: Task<Void, Never>

    private init(outgoing: AsyncStream<Outgoing>.Continuation, task: Task<Void, Never>, inbox: Locked<Inbox>) {
        self.outgoing = outgoing
        self.task = task
        self.inboxRef = inbox
    }

    private let inboxRef: Locked<Inbox>

    /// Opens `ws://127.0.0.1:PORT/ws` (`wss://`, trusting the CA in `authorityPath`, when
    /// one is given), with an `Origin` header if given.
    /// - Throws: if the server refuses the upgrade.
    public static func connect(port: Int, origin: String? = nil, authorityPath: String? = nil) async throws -> WebSocketTestClient {
        let tls = try authorityPath.map { path in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            return tls
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Outgoing.self)
        let inbox = Locked(Inbox())
        var headers = HTTPFields()
        if let origin { headers[.origin] = origin }
        let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20, additionalHeaders: headers)
        let task = Task {
            do {
                try await WebSocketClient.connect(
                    url: tls == nil ? "ws://127.0.0.1:\(port)/ws" : "wss://localhost:\(port)/ws",
                    configuration: configuration,
                    tlsConfiguration: tls,
                    logger: Logger(label: "kabar-ws-test", factory: { _ in SwiftLogNoOpLogHandler() })
                ) { inbound, outbound, _ in
                    inbox.withLock { $0.isOpen = true }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await item in stream {
                                switch item {
                                case .text(let text): try await outbound.write(.text(text))
                                case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                                case .rawText(let bytes):
                                    try await outbound.write(.custom(.init(fin: true, opcode: .text, data: ByteBuffer(bytes: bytes))))
                                }
                            }
                        }
                        for try await frame in inbound where frame.opcode == .text {
                            inbox.withLock { $0.frames.append(String(buffer: frame.data)) }
                        }
                        group.cancelAll()
                    }
                }
            } catch {
                inbox.withLock { $0.upgradeError = error }
            }
            inbox.withLock { $0.isClosed = true }
        }
        let client = WebSocketTestClient(outgoing: continuation, task: task, inbox: inbox)
        let deadline = ContinuousClock.now + .seconds(10 * testTimeScale)
        while true {
            let (open, closed, error) = inbox.withLock { ($0.isOpen, $0.isClosed, $0.upgradeError) }
            if open { return client }
            if closed { throw error ?? WebSocketTestClientError.closed }
            guard ContinuousClock.now < deadline else { throw WebSocketTestClientError.timedOut }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public func send(_ item: Outgoing) {
        outgoing.yield(item)
    }

    /// The next text frame from the server.
    public func receive(timeout: Duration = .seconds(10 * testTimeScale)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (frame, closed) = inboxRef.withLock { inbox -> (String?, Bool) in
                guard !inbox.frames.isEmpty else { return (nil, inbox.isClosed) }
                return (inbox.frames.removeFirst(), false)
            }
            if let frame { return frame }
            if closed { throw WebSocketTestClientError.closed }
            guard ContinuousClock.now < deadline else { throw WebSocketTestClientError.timedOut }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Sends one request frame and returns the next frame.
    public func request(_ line: String) async throws -> String {
        send(.text(line))
        return try await receive()
    }

    /// Logs in; the token.
    public func login(_ username: String, password: String = "surabaya") async throws -> String {
        let reply = try await request("auth \(username) \(password)")
        guard let token = Expected.token(inAuthReply: reply + "\r\n\r\n") else { throw WebSocketTestClientError.refused(reply) }
        return token
    }

    /// Waits until the server has closed the connection. - Returns: whether it did in time.
    public func waitUntilClosed(timeout: Duration = .seconds(10 * testTimeScale)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !inboxRef.withLock({ $0.isClosed }) {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    public func close() async {
        outgoing.finish()
        task.cancel()
        await task.value
    }
}

public enum WebSocketTestClientError: Error {
    case closed
    case timedOut
    case refused(String)
}
