import NIOCore
import Synchronization

// MARK: - BenchSubscriberHandler

/// A `--op push` subscriber: binds to its user's session and subscribes, skips the
/// replay, then times every event from the send time its message carries
/// (`"msg": "tNANOSECONDS…"`, written by the sender in this process) to the moment it is
/// read. Once every sender has finished, it stops after a second without an event.
final class BenchSubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case subscribing
        /// Subscribed; the replay's events still to skip.
        case skippingReplay(Int)
        case running
        case finished
    }

    private let subscribe: ByteBuffer
    private let shared: BenchShared
    private let subscribed: EventLoopPromise<Void>
    private let done: EventLoopPromise<BenchStatistics>
    private var state = State.subscribing
    private var frame: [UInt8] = []
    private var statistics = BenchStatistics()
    private var stopCheck: Scheduled<Void>?
    /// When the last frame came.
    private var lastFrame = NIODeadline.now()
    private static let timeMarker = Array(#""msg": "t"#.utf8)
    private static let messageEvent = Array(#"{"status": "OK", "event": "message""#.utf8)
    private static let unreadMarker = Array(#""unread": "#.utf8)
    private static let terminator = Array("\r\n\r\n".utf8)

    init(subscribe: ByteBuffer, shared: BenchShared, subscribed: EventLoopPromise<Void>, done: EventLoopPromise<BenchStatistics>) {
        self.subscribe = subscribe
        self.shared = shared
        self.subscribed = subscribed
        self.done = done
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.writeAndFlush(wrapOutboundOut(subscribe), promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is BenchStartEvent else { return context.fireUserInboundEventTriggered(event) }
        scheduleStopCheck(context: context)
    }

    /// Looks every 100 ms whether the senders are done and no event came for a second.
    private func scheduleStopCheck(context: ChannelHandlerContext) {
        stopCheck = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { [self] in
            if shared.sending.load(ordering: .relaxed) <= 0, NIODeadline.now() - lastFrame >= .seconds(1) {
                return finish(context: context)
            }
            if case .finished = state { return }
            scheduleStopCheck(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        lastFrame = NIODeadline.now()
        let now = lastFrame.uptimeNanoseconds
        for byte in buffer.readableBytesView {
            frame.append(byte)
            if frame.count >= 4, frame.suffix(4).elementsEqual(Self.terminator) {
                handleFrame(at: now)
                frame.removeAll(keepingCapacity: true)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .subscribing = state { subscribed.fail(BenchError.connectionLost) }
        finish(context: context)
        context.fireChannelInactive()
    }

    private func handleFrame(at now: UInt64) {
        switch state {
        case .subscribing:
            guard let unread = Self.number(after: Self.unreadMarker, in: frame) else {
                state = .finished
                subscribed.fail(BenchError.loginRefused)
                done.succeed(statistics)
                return
            }
            state = unread > 0 ? .skippingReplay(Int(unread)) : .running
            subscribed.succeed()
        case .skippingReplay(let remaining):
            state = remaining > 1 ? .skippingReplay(remaining - 1) : .running
        case .running:
            // Only `message` events: the `sent` copies to the sender's own devices are not deliveries.
            guard frame.starts(with: Self.messageEvent), let sent = Self.number(after: Self.timeMarker, in: frame),
                sent >= shared.measureStart, now >= sent
            else { return }
            statistics.record(deliveryNanoseconds: now - sent)
        case .finished:
            break
        }
    }

    private func finish(context: ChannelHandlerContext) {
        if case .finished = state { return }
        state = .finished
        stopCheck?.cancel()
        done.succeed(statistics)
        context.close(promise: nil)
    }

    /// The decimal number right after `marker` in `bytes`, if there is one.
    private static func number(after marker: [UInt8], in bytes: [UInt8]) -> UInt64? {
        guard let range = bytes.firstRange(of: marker) else { return nil }
        var value: UInt64 = 0
        var digits = 0
        for byte in bytes[range.upperBound...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { break }
            value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}
