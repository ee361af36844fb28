import KabarProtocol
import NIOCore

// MARK: - WebFrames

/// Replies and events as WebSocket text frames: the JSON object alone, without the
/// `\r\n\r\n` that ends it on TCP.
enum WebFrames {
    static func text(of reply: Reply) -> String {
        text(of: ReplyEncoder.encode(reply))
    }

    /// The text of an encoded reply or event, without its terminator.
    static func text(of buffer: ByteBuffer) -> String {
        var buffer = buffer
        let length = buffer.readableBytes - 4
        return buffer.readString(length: max(0, length)) ?? ""
    }
}
