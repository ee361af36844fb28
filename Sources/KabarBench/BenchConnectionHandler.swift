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
/// `pipeline` requests in flight, timing each from write to reply (``BenchLoop``), and
/// writes the requests each read lets go as one buffer.
final class BenchConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var loop: BenchLoop
    private let shared: BenchShared
    private let loggedIn: EventLoopPromise<Void>
    private let done: EventLoopPromise<BenchStatistics>

    init(
        workload: BenchWorkload,
        pipeline: Int,
        shared: BenchShared,
        loggedIn: EventLoopPromise<Void>,
        done: EventLoopPromise<BenchStatistics>
    ) {
        self.loop = BenchLoop(workload: workload, pipeline: pipeline)
        self.shared = shared
        self.loggedIn = loggedIn
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is BenchStartEvent,
            loop.start(at: NIODeadline.now().uptimeNanoseconds, shared: shared, allocator: context.channel.allocator)
        else {
            context.fireUserInboundEventTriggered(event)
            return
        }
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
        guard let login = loop.logIn(at: NIODeadline.now().uptimeNanoseconds) else { return }
        context.writeAndFlush(wrapOutboundOut(login), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let shared = self.shared
        let allocator = context.channel.allocator
        let (measured, login) = buffer.withUnsafeReadableBytes { loop.receive($0, shared: shared, allocator: allocator) }
        if measured > 0 { shared.replies.add(measured, ordering: .relaxed) }
        switch login {
        case .none:
            break
        case .succeeded:
            loggedIn.succeed()
        case .refused:
            loggedIn.fail(BenchError.loginRefused)
            done.succeed(loop.statistics)
            context.close(promise: nil)
            return
        }
        writeOutput(context: context)
        finishIfIdle(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if loop.phase == .loggingIn { loggedIn.fail(BenchError.connectionLost) }
        if loop.connectionLost() { done.succeed(loop.statistics) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Writes and flushes the queued requests as one buffer.
    private func writeOutput(context: ChannelHandlerContext) {
        guard let pending = loop.takeOutput() else { return }
        context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
    }

    private func finishIfIdle(context: ChannelHandlerContext) {
        guard loop.finishIfIdle() else { return }
        shared.senderFinished()
        done.succeed(loop.statistics)
        context.close(promise: nil)
    }
}
