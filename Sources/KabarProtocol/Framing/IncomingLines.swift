import NIOCore

// MARK: - IncomingLines

/// One connection's input as request lines: each read is cut into frames by a
/// ``LineFramer`` and queued, and the start of a line whose end has not arrived yet is kept
/// for the next read.
///
///     read "ping\r\nsend hen"  ─▶ queue: [ping]            unfinished: "send hen"
///     read "derson hi\r\n"     ─▶ queue: [ping, send …]    unfinished: none
///
/// The connection's handler cuts a whole read at once and takes the frames one by one, so a
/// pipelined burst costs one call, not one trip through a decoder and the handlers after
/// it per line. The unfinished line is never longer than the framer's limit plus one byte
/// (past it the framer discards as bytes arrive). A value with no I/O.
public struct IncomingLines {
    private var framer: LineFramer
    /// Bytes after the last newline read so far, when there are any.
    private var unfinished: ByteBuffer?
    private var frames = CircularBuffer<LineFramer.Frame>(initialCapacity: 4)

    public init(maximumLineLength: Int) {
        self.framer = LineFramer(maximumLineLength: maximumLineLength)
    }

    /// Frames cut and not taken yet.
    public var count: Int { frames.count }
    public var isEmpty: Bool { frames.isEmpty }

    /// Cuts `read`, after the unfinished line of earlier reads, into frames.
    ///
    /// - Returns: how many frames it added.
    @discardableResult
    public mutating func append(_ read: ByteBuffer) -> Int {
        var bytes: ByteBuffer
        if var earlier = unfinished {
            unfinished = nil
            earlier.writeImmutableBuffer(read)
            bytes = earlier
        } else {
            bytes = read
        }
        let before = frames.count
        while let frame = framer.nextFrame(from: &bytes) { frames.append(frame) }
        if bytes.readableBytes > 0 {
            // Keep only the unfinished line, not the read it came in.
            if bytes.readerIndex > 0 { bytes.discardReadBytes() }
            unfinished = bytes
        }
        return frames.count - before
    }

    /// Takes the oldest frame.
    public mutating func popFirst() -> LineFramer.Frame? {
        frames.popFirst()
    }

    /// The input ended: an unfinished line is not a request (a request ends in `\n`) and
    /// is dropped; frames already cut stay.
    public mutating func endOfInput() {
        unfinished = nil
    }

    /// Drops everything: the connection is gone.
    public mutating func removeAll() {
        unfinished = nil
        frames.removeAll()
    }
}
