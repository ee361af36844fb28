import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - BenchLoop

/// One bench connection's closed loop as a value: which replies a read completed, how long
/// each took, and which requests they let go. No I/O: ``BenchSocketDriver`` (plain TCP on
/// Linux) or ``BenchConnectionHandler`` (SwiftNIO: TLS, elsewhere) feeds it each read and
/// writes what it queued.
///
/// It is a struct the handler changes once per read, so that the per-reply work (timing,
/// the histogram, the next request) touches no class property: every access to one is a
/// runtime exclusivity check and a reference count, which cost a load generator at P16
/// about a tenth of its CPU (`perf`).
struct BenchLoop {
    enum Phase {
        case loggingIn
        case ready
        case running
        case finished
    }

    /// Whether a read ended the login, and how.
    enum LoginOutcome {
        case none
        case succeeded
        case refused
    }

    private(set) var phase = Phase.loggingIn
    private(set) var statistics = BenchStatistics()
    private var workload: BenchWorkload
    private let pipeline: Int
    /// When each request in flight was written (uptime nanoseconds), oldest first.
    private var sentAt = CircularBuffer<UInt64>()
    private var scanner = ReplyScanner()
    /// Requests queued since the handler last took them.
    private var output: ByteBuffer?
    /// The buffer the handler took last, kept so that the next requests reuse its memory
    /// once the channel has written it (until then, writing to it copies it).
    private var written: ByteBuffer?

    init(workload: BenchWorkload, pipeline: Int) {
        self.workload = workload
        self.pipeline = max(1, pipeline)
    }

    /// Requests written and not answered yet.
    var inFlight: Int { sentAt.count }

    /// Queues the login line, timed from `now`.
    mutating func logIn(at now: UInt64) -> ByteBuffer? {
        guard phase == .loggingIn, sentAt.isEmpty else { return nil }
        sentAt.append(now)
        return workload.login
    }

    /// Starts the load: queues `pipeline` requests. - Returns: false if not logged in.
    mutating func start(at now: UInt64, shared: BenchShared, allocator: ByteBufferAllocator) -> Bool {
        guard phase == .ready else { return false }
        phase = .running
        for _ in 0..<pipeline { queueNext(at: now, shared: shared, allocator: allocator) }
        return true
    }

    /// Takes the bytes of one read: times the replies they complete (the clock is read once,
    /// when the first completes: they arrived together) and queues the requests they let go.
    ///
    /// - Returns: how many measured replies completed, and whether the login ended.
    mutating func receive(
        _ bytes: UnsafeRawBufferPointer,
        shared: BenchShared,
        allocator: ByteBufferAllocator
    ) -> (measuredReplies: Int, login: LoginOutcome) {
        var now: UInt64?
        var measured = 0
        var login = LoginOutcome.none
        var position = 0
        while let (end, ok) = scanner.nextReplyEnd(in: bytes, from: position) {
            position = end
            let at = now ?? NIODeadline.now().uptimeNanoseconds
            now = at
            guard let sent = sentAt.popFirst() else { continue }
            switch phase {
            case .loggingIn:
                phase = ok ? .ready : .finished
                if !ok { statistics.errors += 1 }
                login = ok ? .succeeded : .refused
            case .running:
                if sent >= shared.measureStart {
                    statistics.record(latencyNanoseconds: at - sent, ok: ok)
                    measured += 1
                }
                queueNext(at: at, shared: shared, allocator: allocator)
            case .ready, .finished:
                break
            }
        }
        return (measured, login)
    }

    /// The requests queued since the last call, as one buffer.
    mutating func takeOutput() -> ByteBuffer? {
        guard let buffer = output.take() else { return nil }
        written = buffer
        return buffer
    }

    /// Ends the loop once nothing is in flight. - Returns: whether it ended now.
    mutating func finishIfIdle() -> Bool {
        guard phase == .running, inFlight == 0 else { return false }
        phase = .finished
        return true
    }

    /// Ends the loop for a lost connection: what was in flight counts as errors.
    /// - Returns: false if it had ended already.
    mutating func connectionLost() -> Bool {
        guard phase != .finished else { return false }
        statistics.errors += inFlight
        sentAt.removeAll()
        phase = .finished
        return true
    }

    private mutating func queueNext(at now: UInt64, shared: BenchShared, allocator: ByteBufferAllocator) {
        guard shared.mayIssue(at: now) else { return }
        sentAt.append(now)
        var buffer = output.take() ?? reusableBuffer(allocator: allocator)
        workload.writeNext(at: now, into: &buffer)
        output = buffer
    }

    private mutating func reusableBuffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = written.take() else { return allocator.buffer(capacity: workload.requestSize * pipeline) }
        buffer.clear()
        return buffer
    }
}

// MARK: - ReplyScanner

/// Finds the end of each reply (`\r\n\r\n`) in a stream of bytes, and whether the reply
/// began with `{"status": "OK"`; nothing else of a reply is looked at.
struct ReplyScanner {
    /// Held by each scanner rather than read from a static, whose every read in the
    /// per-byte loop would check that it was initialised.
    private let okPrefix: [UInt8] = Array(#"{"status": "OK""#.utf8)
    private var prefixMatched = 0
    private var isOK = true
    private var terminatorMatched = 0

    /// Scans `bytes` from `start` to the end of the reply under way. - Returns: the offset
    /// just past that reply and whether it was OK, or nil if `bytes` end inside it.
    ///
    /// The status at a reply's start is compared at once (byte by byte only where a read
    /// cuts it); then it jumps to the next carriage return, the only byte that can begin
    /// the terminator, which is matched byte by byte. (Byte by byte throughout, this loop
    /// was a tenth of `kabar-bench`'s CPU at `send` P16.)
    mutating func nextReplyEnd(in bytes: UnsafeRawBufferPointer, from start: Int) -> (end: Int, ok: Bool)? {
        var index = start
        while index < bytes.count {
            if prefixMatched == 0, terminatorMatched == 0, takePrefix(of: bytes, at: index) {
                index += okPrefix.count
            } else if prefixMatched < okPrefix.count || terminatorMatched > 0 {
                if let ok = take(bytes[index]) { return (index + 1, ok) }
                index += 1
            } else {
                guard let carriageReturn = Self.carriageReturn(in: bytes, from: index, before: bytes.count) else { return nil }
                _ = take(bytes[carriageReturn])  // a first `\r` ends no reply
                index = carriageReturn + 1
            }
        }
        return nil
    }

    /// Takes a reply's first bytes at once when `bytes` hold as many as the OK status has and
    /// no `\r` is among them (so the reply does not end there). - Returns: whether it did.
    private mutating func takePrefix(of bytes: UnsafeRawBufferPointer, at index: Int) -> Bool {
        let end = index + okPrefix.count
        guard end <= bytes.count, Self.carriageReturn(in: bytes, from: index, before: end) == nil else { return false }
        isOK = okPrefix.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress! + index, $0.count) == 0 }
        prefixMatched = okPrefix.count
        return true
    }

    /// The offset of the first `\r` in `bytes[start..<end]` (a non-empty range), found by `memchr`.
    private static func carriageReturn(in bytes: UnsafeRawBufferPointer, from start: Int, before end: Int) -> Int? {
        let base = bytes.baseAddress!
        return memchr(base + start, Int32(UInt8(ascii: "\r")), end - start).map { base.distance(to: $0) }
    }

    /// Takes one byte. - Returns: nil inside a reply; at its last byte, whether it was OK.
    private mutating func take(_ byte: UInt8) -> Bool? {
        if prefixMatched < okPrefix.count {
            if byte != okPrefix[prefixMatched] { isOK = false }
            prefixMatched += 1
        }
        terminatorMatched = Self.advance(terminatorMatched, with: byte)
        guard terminatorMatched == 4 else { return nil }
        defer {
            terminatorMatched = 0
            prefixMatched = 0
            isOK = true
        }
        return isOK
    }

    /// Knuth-Morris-Pratt over the 4-byte terminator `\r\n\r\n`.
    private static func advance(_ matched: Int, with byte: UInt8) -> Int {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        switch (matched, byte) {
        case (0, cr), (2, cr): return matched + 1
        case (1, lf), (3, lf): return matched + 1
        case (_, cr): return 1
        default: return 0
        }
    }
}
