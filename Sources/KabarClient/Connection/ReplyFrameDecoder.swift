import NIOCore

// MARK: - ReplyFrameDecoder

/// Cuts the server's byte stream into replies: each reply ends in `\r\n\r\n`.
///
///     {"status": "OK", "message": "PONG"}\r\n\r\n{"status": …
///     └────────── one reply (terminator dropped) ─┘
///
/// JSON strings escape `\r` and `\n`, so the terminator never occurs inside a reply.
struct ReplyFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = String

    /// Replies larger than this (a huge inbox) are a protocol violation by the server.
    let maximumReplyLength: Int
    private var scannedCount = 0
    private static let terminator: [UInt8] = Array("\r\n\r\n".utf8)

    init(maximumReplyLength: Int = 256 * 1024 * 1024) {
        self.maximumReplyLength = maximumReplyLength
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let searchStart = view.startIndex + max(0, scannedCount - 3)
        guard let end = view[searchStart...].firstRange(of: Self.terminator) else {
            scannedCount = view.count
            guard view.count <= maximumReplyLength else { throw KabarClientError(code: .malformedReply) }
            return .needMoreData
        }
        scannedCount = 0
        let text = buffer.getString(at: buffer.readerIndex, length: end.lowerBound - view.startIndex) ?? ""
        buffer.moveReaderIndex(to: end.upperBound)
        context.fireChannelRead(Self.wrapInboundOut(text))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
