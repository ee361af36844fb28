import NIOCore

// MARK: - LineFramer

/// Cuts a byte stream into request lines, with a length limit that never buffers more
/// than the limit.
///
/// PROTOCOL.md, "Framing" and "Limits and bad input": a request is one line ending in
/// `\r\n` (a bare `\n` is accepted). A line longer than the limit gets one
/// `Request Terlalu Panjang`, and the rest of that line is thrown away as it arrives:
///
///     "ping\r\nAAAA…(limit + 2 bytes, no newline yet)…AAAA\r\nping\r\n"
///      └─ .line("ping")  └─ .tooLong as soon as the limit is passed;
///                           then discarding until the next "\n"   └─ .line("ping")
///
/// The limit counts the line's bytes without its terminator: a line of exactly
/// `maximumLineLength` bytes is accepted. This is a value type with no I/O, so the
/// decoder that wraps it stays a few lines long and the rules are tested directly.
public struct LineFramer: Sendable {
    /// What the framer found.
    public enum Frame: Hashable, Sendable {
        /// A complete line, without `\r\n` or `\n`.
        case line(ByteBuffer)
        /// A line passed the limit; the framer is discarding the rest of it.
        case tooLong
    }

    /// The longest accepted line, in bytes, terminator excluded.
    public let maximumLineLength: Int
    private var isDiscarding = false
    /// How many readable bytes of the current line were already searched for `\n`.
    private var scannedCount = 0

    public init(maximumLineLength: Int) {
        precondition(maximumLineLength > 0, "a line limit must be positive")
        self.maximumLineLength = maximumLineLength
    }

    /// Takes the next frame from the front of `buffer`, consuming its bytes.
    ///
    /// - Returns: nil when `buffer` holds no complete frame yet (any bytes of an
    ///   over-long line that it held have been consumed and dropped).
    public mutating func nextFrame(from buffer: inout ByteBuffer) -> Frame? {
        while true {
            if isDiscarding {
                guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    return nil
                }
                buffer.moveReaderIndex(to: newline + 1)
                isDiscarding = false
                continue
            }
            let view = buffer.readableBytesView
            let searchStart = view.startIndex + scannedCount
            guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
                scannedCount = view.count
                // One byte of slack: a line of exactly the limit may still end in "\r".
                guard view.count > maximumLineLength + 1 else { return nil }
                scannedCount = 0
                isDiscarding = true
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return .tooLong
            }
            scannedCount = 0
            var lineLength = newline - view.startIndex
            if lineLength > 0, view[newline - 1] == UInt8(ascii: "\r") { lineLength -= 1 }
            let line = buffer.getSlice(at: buffer.readerIndex, length: lineLength)!
            buffer.moveReaderIndex(to: newline + 1)
            return lineLength > maximumLineLength ? .tooLong : .line(line)
        }
    }
}
