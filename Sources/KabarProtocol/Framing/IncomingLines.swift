import NIOCore

// MARK: - IncomingLines

/// One connection's input as request lines: the bytes read and not taken, with the next
/// complete line found ahead, and each line handed on where it was read, never copied.
///
///     read "ping\r\nsend hen"  ─▶ bytes: ping␍␊send hen     front: "ping"
///     take                     ─▶ bytes: send hen           front: none (unfinished)
///     read "derson hi\r\n"     ─▶ bytes: send henderson hi␍␊ front: "send henderson hi"
///
/// A read is searched one line at a time as lines are taken, so a pipelined burst costs
/// one search per line and no allocation, not a buffer and a queue entry per line. Once
/// the complete lines are taken, what is kept is the unfinished line alone, never longer
/// than the framer's limit plus one byte (past it the framer discards as bytes arrive).
/// A value with no I/O.
public struct IncomingLines {
    @usableFromInline var framer: LineFramer
    /// Bytes read and not taken: complete lines, then the start of an unfinished one;
    /// nil when there are none.
    @usableFromInline var bytes: ByteBuffer?
    /// The frame at the front of `bytes` (a line or an over-long one), found ahead so
    /// that ``isEmpty`` needs no search; nil when `bytes` holds no complete line.
    @usableFromInline var front: LineFramer.Cut?

    public init(maximumLineLength: Int) {
        self.framer = LineFramer(maximumLineLength: maximumLineLength)
    }

    /// Whether no complete line is waiting.
    public var isEmpty: Bool { front == nil }

    /// Adds `read` after the bytes kept.
    ///
    /// - Returns: whether a complete line is waiting now.
    @discardableResult
    public mutating func append(_ read: ByteBuffer) -> Bool {
        if bytes == nil {
            bytes = read
        } else {
            bytes!.writeImmutableBuffer(read)
        }
        if front == nil { findFront() }
        return front != nil
    }

    /// Takes the oldest frame: a complete line's bytes go to `line` (they are valid only
    /// during the call), an over-long line calls `tooLong`.
    ///
    /// - Returns: what the call returned, or nil when no complete line is waiting.
    @inlinable
    public mutating func popFirst<Result>(
        line: (UnsafeRawBufferPointer) -> Result,
        tooLong: () -> Result
    ) -> Result? {
        let result: Result
        switch front {
        case .line(let start, let length, _)?:
            result = bytes!.withUnsafeReadableBytes { line(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        case .tooLong?:
            result = tooLong()
        case .incomplete?, nil:
            return nil
        }
        takeFront()
        return result
    }

    /// Takes the oldest frame as the framer gives it, the line copied into a buffer of its
    /// own: for callers that keep lines (the fuzzer, tests), not for the connection's path.
    public mutating func popFirstFrame() -> LineFramer.Frame? {
        popFirst(line: { .line(ByteBuffer(bytes: $0)) }, tooLong: { .tooLong })
    }

    /// The input ended: an unfinished line is not a request (a request ends in `\n`) and
    /// is dropped; the complete lines stay, and so does the refusal of an unfinished line
    /// that passed the limit (it is refused as soon as it passes it). No read comes after.
    public mutating func endOfInput() {
        guard let front, let kept = bytes else {
            bytes = nil
            return
        }
        // Only the front was cut so far: cut the rest with a copy of the framer, and keep
        // the bytes up to the end of its last frame. Taking the lines cuts them again alike.
        var lookahead = framer
        var end = front.consumed
        kept.withUnsafeReadableBytes { all in
            while true {
                let cut = lookahead.cut(UnsafeRawBufferPointer(rebasing: all[end...]))
                end += cut.consumed
                if case .incomplete = cut { break }
            }
        }
        bytes = kept.getSlice(at: kept.readerIndex, length: end)
    }

    /// Drops everything: the connection is gone.
    public mutating func removeAll() {
        bytes = nil
        front = nil
    }

    /// Drops the front frame's bytes and finds the next one.
    @usableFromInline
    mutating func takeFront() {
        guard let front else { return }
        bytes!.moveReaderIndex(forwardBy: front.consumed)
        self.front = nil
        findFront()
    }

    /// Looks for a complete frame at the front of `bytes`; when there is none, keeps only
    /// the unfinished line, not the reads it came in.
    private mutating func findFront() {
        var framer = self.framer
        // Cut in place: a copy of `bytes` would cost a retain and a release per line.
        guard let cut = bytes?.withUnsafeReadableBytes({ $0.isEmpty ? nil : framer.cut($0) }) else {
            bytes = nil
            return
        }
        self.framer = framer
        guard case .incomplete(let consumed) = cut else {
            front = cut
            return
        }
        // Taken out, the buffer has no other reference, so discarding does not copy it.
        var unread = bytes.take()!
        unread.moveReaderIndex(forwardBy: consumed)
        guard unread.readableBytes > 0 else { return }
        if unread.readerIndex > 0 { unread.discardReadBytes() }
        bytes = unread
    }
}
