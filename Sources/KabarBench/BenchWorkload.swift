import KabarProtocol
import NIOCore

// MARK: - BenchWorkload

/// The request lines one bench connection sends, encoded once and reused.
struct BenchWorkload {
    /// Binds the connection to its user's session (`show TOKEN`), so that the load's
    /// requests need no token and the setup costs one scrypt check per user, not per
    /// connection.
    let login: ByteBuffer
    private let primary: ByteBuffer
    private let inbox: ByteBuffer
    private let operation: BenchConfiguration.Operation
    private var sent = 0

    init(configuration: BenchConfiguration, connectionIndex: Int, token: SessionToken, allocator: ByteBufferAllocator) {
        let users = max(1, configuration.users)
        let me = connectionIndex % users
        login = allocator.buffer(string: "show \(token.text)\r\n")
        inbox = allocator.buffer(string: "inbox\r\n")
        operation = configuration.operation
        switch configuration.operation {
        case .send, .mix:
            let recipients = (1...max(1, configuration.recipients)).map { BenchConfiguration.username((me + $0) % users) }
            let text = String(repeating: "x", count: max(1, configuration.messageSize))
            primary = allocator.buffer(string: "send \(recipients.joined(separator: ",")) \(text)\r\n")
        case .inbox:
            primary = inbox
        case .auth:
            primary = allocator.buffer(string: "auth \(BenchConfiguration.username(me)) \(BenchConfiguration.password)\r\n")
        case .ping:
            primary = allocator.buffer(string: "ping\r\n")
        case .show:
            primary = allocator.buffer(string: "show\r\n")
        }
    }

    /// The next request to send.
    mutating func next() -> ByteBuffer {
        sent += 1
        if operation == .mix && sent % 10 == 0 { return inbox }
        return primary
    }
}
