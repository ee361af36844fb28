import NIOCore

// MARK: - LineFrameDecoder

/// A `ByteToMessageDecoder` over ``LineFramer``.
///
/// Unlike NIOExtras' `LineBasedFrameDecoder`, it has a length limit, and passing it does
/// not put the decoder in an error state: the connection stays usable. Bytes left after
/// the last newline when the input closes are not a request (a request ends in `\n`)
/// and are dropped.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFramer.Frame

    private var framer: LineFramer

    public init(maximumLineLength: Int) {
        self.framer = LineFramer(maximumLineLength: maximumLineLength)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = framer.nextFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
