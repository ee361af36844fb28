import NIOCore
import Synchronization

// MARK: - BenchShared

/// State the connections of one run share: how many measured requests may still be sent.
final class BenchShared: Sendable {
    /// Measured requests issued so far.
    let issued = Atomic<Int>(0)
    /// When measuring starts (uptime nanoseconds); requests sent before are warm-up.
    /// Set by ``start(at:warmup:measuring:)`` once every connection is logged in.
    private let measureStartNanoseconds = Atomic<UInt64>(.max)
    /// When sending stops (uptime nanoseconds), for duration runs.
    private let sendUntilNanoseconds = Atomic<UInt64>(.max)
    let requestLimit: Int?
    /// Replies received, for the progress line.
    let replies = Atomic<Int>(0)
    /// Connections still sending (`--op push`: subscribers stop once none is).
    let sending = Atomic<Int>(0)

    func senderFinished() {
        sending.subtract(1, ordering: .relaxed)
    }

    init(requestLimit: Int?) {
        self.requestLimit = requestLimit
    }

    var measureStart: UInt64 { measureStartNanoseconds.load(ordering: .relaxed) }

    /// Fixes the measured span: after `warmup` from `now`, for `duration` if given.
    func start(at now: UInt64, warmup: UInt64, duration: UInt64?) {
        measureStartNanoseconds.store(now + warmup, ordering: .relaxed)
        if let duration { sendUntilNanoseconds.store(now + warmup + duration, ordering: .relaxed) }
    }

    /// Whether a connection may send another request now.
    func mayIssue(at now: UInt64) -> Bool {
        if now >= sendUntilNanoseconds.load(ordering: .relaxed) { return false }
        guard now >= measureStart, let requestLimit else { return true }
        return issued.wrappingAdd(1, ordering: .relaxed).newValue <= requestLimit
    }
}

// MARK: - BenchConnectionHandler

/// The signal, sent through every pipeline at once, that the load begins.
struct BenchStartEvent: Sendable {}

/// One closed-loop bench connection: logs in, waits for ``BenchStartEvent``, then keeps
/// `pipeline` requests in flight, timing each from write to reply. Replies are found by their `\r\n\r\n` ending; only
/// their first bytes are looked at (`{"status": "OK"` or not).
final class BenchConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case loggingIn
        case ready
        case running
        case finished
    }

    private var workload: BenchWorkload
    private let pipeline: Int
    private let shared: BenchShared
    private let loggedIn: EventLoopPromise<Void>
    private let done: EventLoopPromise<BenchStatistics>
    private var state = State.loggingIn
    private var sentAt = CircularBuffer<UInt64>()
    private var statistics = BenchStatistics()
    private var replyIsOK = true
    private var matchedTerminator = 0
    private static let okPrefix = Array(#"{"status": "OK""#.utf8)
    private var prefixMatched = 0
    /// Requests queued by ``sendNext(context:at:)``, written by ``writeOutput(context:)``.
    private var output: ByteBuffer?

    init(
        workload: BenchWorkload,
        pipeline: Int,
        shared: BenchShared,
        loggedIn: EventLoopPromise<Void>,
        done: EventLoopPromise<BenchStatistics>
    ) {
        self.workload = workload
        self.pipeline = pipeline
        self.shared = shared
        self.loggedIn = loggedIn
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is BenchStartEvent, state == .ready else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        state = .running
        let now = NIODeadline.now().uptimeNanoseconds
        for _ in 0..<pipeline { sendNext(context: context, at: now) }
        writeOutput(context: context)
        finishIfIdle(context: context)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { logIn(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        logIn(context: context)
        context.fireChannelActive()
    }

    private func logIn(context: ChannelHandlerContext) {
        guard state == .loggingIn, sentAt.isEmpty else { return }
        sentAt.append(NIODeadline.now().uptimeNanoseconds)
        context.writeAndFlush(wrapOutboundOut(workload.login), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        // The clock is read once per read, when its first reply completes: the replies of
        // one read arrived together. The requests they let go are written as one buffer.
        // The scan runs on locals (the handler's properties are written back once), so
        // that the per-byte loop does no exclusivity checks and no lazy-global checks.
        var now: UInt64?
        var prefixMatched = self.prefixMatched
        var replyIsOK = self.replyIsOK
        var matchedTerminator = self.matchedTerminator
        let okPrefix = Self.okPrefix
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                if prefixMatched < okPrefix.count {
                    if byte != okPrefix[prefixMatched] { replyIsOK = false }
                    prefixMatched += 1
                }
                matchedTerminator = Self.advance(matchedTerminator, with: byte)
                if matchedTerminator == 4 {
                    let at = now ?? NIODeadline.now().uptimeNanoseconds
                    now = at
                    handleReply(ok: replyIsOK, at: at, context: context)
                    matchedTerminator = 0
                    prefixMatched = 0
                    replyIsOK = true
                }
            }
        }
        self.prefixMatched = prefixMatched
        self.replyIsOK = replyIsOK
        self.matchedTerminator = matchedTerminator
        guard now != nil else { return }
        writeOutput(context: context)
        finishIfIdle(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .loggingIn { loggedIn.fail(BenchError.connectionLost) }
        if state != .finished {
            statistics.errors += sentAt.count
            state = .finished
            done.succeed(statistics)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func handleReply(ok: Bool, at now: UInt64, context: ChannelHandlerContext) {
        guard let sent = sentAt.popFirst() else { return }
        switch state {
        case .loggingIn:
            guard ok else {
                statistics.errors += 1
                state = .finished
                loggedIn.fail(BenchError.loginRefused)
                done.succeed(statistics)
                context.close(promise: nil)
                return
            }
            state = .ready
            loggedIn.succeed()
        case .running:
            if sent >= shared.measureStart {
                statistics.record(latencyNanoseconds: now - sent, ok: ok)
                shared.replies.add(1, ordering: .relaxed)
            }
            sendNext(context: context, at: now)
        case .ready, .finished:
            break
        }
    }

    /// Queues the next request, timed from `now`, for ``writeOutput(context:)``.
    private func sendNext(context: ChannelHandlerContext, at now: UInt64) {
        guard shared.mayIssue(at: now) else { return }
        sentAt.append(now)
        let request = workload.next(at: now, allocator: context.channel.allocator)
        if output == nil {
            output = request
        } else {
            output!.writeImmutableBuffer(request)
        }
    }

    /// Writes and flushes the queued requests as one buffer.
    private func writeOutput(context: ChannelHandlerContext) {
        guard let pending = output else { return }
        output = nil
        context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
    }

    private func finishIfIdle(context: ChannelHandlerContext) {
        guard state == .running, sentAt.isEmpty else { return }
        state = .finished
        shared.senderFinished()
        done.succeed(statistics)
        context.close(promise: nil)
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
