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
    /// `--op push`: the subscribed user this sender writes to, and the message size.
    private let pushRecipient: String
    private let messageSize: Int

    init(configuration: BenchConfiguration, connectionIndex: Int, token: SessionToken, allocator: ByteBufferAllocator) {
        let users = max(1, configuration.users)
        let me = connectionIndex % users
        login = allocator.buffer(string: "show \(token.text)\r\n")
        inbox = allocator.buffer(string: "inbox\r\n")
        operation = configuration.operation
        pushRecipient = BenchConfiguration.username(connectionIndex % BenchConfiguration.pushUsers(configuration))
        messageSize = max(1, configuration.messageSize)
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
        case .push:
            primary = inbox  // unused: each push request carries its own time
        }
    }

    /// About how many bytes a request takes, to size the buffer of a burst.
    var requestSize: Int { primary.readableBytes }

    /// Appends the next request to send, written at `now` (uptime nanoseconds), to `buffer`.
    mutating func writeNext(at now: UInt64, into buffer: inout ByteBuffer) {
        sent += 1
        if operation == .push {
            buffer.writeString(Self.pushRequest(to: pushRecipient, at: now, size: messageSize))
        } else if operation == .mix && sent % 10 == 0 {
            buffer.writeImmutableBuffer(inbox)
        } else {
            buffer.writeImmutableBuffer(primary)
        }
    }

    /// `send USER tNANOSECONDS…`: the text starts with its send time, padded to `size`.
    static func pushRequest(to recipient: String, at now: UInt64, size: Int) -> String {
        let stamp = "t\(now)"
        let text = stamp + String(repeating: "x", count: max(0, size - stamp.utf8.count))
        return "send \(recipient) \(text)\r\n"
    }
}
