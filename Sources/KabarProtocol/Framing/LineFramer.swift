import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Where the next frame lies in some bytes, as offsets into them: cutting copies
    /// nothing, so ``IncomingLines`` hands a line's bytes on where they were read.
    @usableFromInline
    enum Cut: Equatable, Sendable {
        /// A complete line of `length` bytes at `start`, terminator excluded; the first
        /// `consumed` bytes, its terminator included, are done with.
        case line(start: Int, length: Int, consumed: Int)
        /// A line passed the limit; the first `consumed` bytes are done with.
        case tooLong(consumed: Int)
        /// No complete frame yet; the first `consumed` bytes (of an over-long line being
        /// discarded) may be dropped, the rest is the start of a line.
        case incomplete(consumed: Int)

        /// How many bytes at the front are done with.
        @usableFromInline
        var consumed: Int {
            switch self {
            case .line(_, _, let consumed), .tooLong(let consumed), .incomplete(let consumed): consumed
            }
        }
    }

    /// The longest accepted line, in bytes, terminator excluded.
    public let maximumLineLength: Int
    private var isDiscarding = false
    /// How many bytes of the current line were already searched for `\n`.
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
        let cut = buffer.withUnsafeReadableBytes { self.cut($0) }
        switch cut {
        case .line(let start, let length, let consumed):
            let line = buffer.getSlice(at: buffer.readerIndex + start, length: length)!
            buffer.moveReaderIndex(forwardBy: consumed)
            return .line(line)
        case .tooLong(let consumed):
            buffer.moveReaderIndex(forwardBy: consumed)
            return .tooLong
        case .incomplete(let consumed):
            buffer.moveReaderIndex(forwardBy: consumed)
            return nil
        }
    }

    /// Finds the next frame at the front of `bytes`, which start where the previous cut's
    /// consumed bytes ended.
    @usableFromInline
    mutating func cut(_ bytes: UnsafeRawBufferPointer) -> Cut {
        var start = 0
        if isDiscarding {
            guard let newline = Self.newline(in: bytes, from: 0) else { return .incomplete(consumed: bytes.count) }
            isDiscarding = false
            start = newline + 1
        }
        guard let newline = Self.newline(in: bytes, from: start + scannedCount) else {
            let held = bytes.count - start
            // One byte of slack: a line of exactly the limit may still end in "\r".
            guard held > maximumLineLength + 1 else {
                scannedCount = held
                return .incomplete(consumed: start)
            }
            scannedCount = 0
            isDiscarding = true
            return .tooLong(consumed: bytes.count)
        }
        scannedCount = 0
        var length = newline - start
        if length > 0, bytes[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        guard length <= maximumLineLength else { return .tooLong(consumed: newline + 1) }
        return .line(start: start, length: length, consumed: newline + 1)
    }

    /// The offset of the first `\n` in `bytes` at or after `offset`.
    private static func newline(in bytes: UnsafeRawBufferPointer, from offset: Int) -> Int? {
        guard offset < bytes.count, let base = bytes.baseAddress else { return nil }
        return memchr(base + offset, Int32(UInt8(ascii: "\n")), bytes.count - offset).map { base.distance(to: $0) }
    }
}
