import KabarProtocol
import NIOCore

// MARK: - RequestRateLimiter

/// Per-connection flood control: a token bucket on request lines.
///
/// Over the limit the server holds back the lines it already read, releasing one per
/// token, and reads nothing more from the socket until they are all released. Nothing is
/// dropped: the client is slowed down (TCP pushes back on it) and every request it sent
/// is answered. What is held is at most one read's worth of lines.
final class RequestRateLimiter: ChannelDuplexHandler {
    typealias InboundIn = LineFramer.Frame
    typealias InboundOut = LineFramer.Frame
    typealias OutboundIn = NIOAny

    private var bucket: TokenBucket
    private var held = CircularBuffer<NIOAny>(initialCapacity: 4)
    private var scheduledRelease: Scheduled<Void>?
    private var readRequested = false
    /// After a quiesce every held line is let through at once: they were received.
    private var isDraining = false

    init(requestsPerSecond: Int, burst: Int) {
        self.bucket = TokenBucket(rate: Double(requestsPerSecond), burst: Double(max(1, burst)), now: .now())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        held.append(data)
        release(context: context, completingRead: false)
    }

    func read(context: ChannelHandlerContext) {
        if held.isEmpty {
            context.read()
        } else {
            readRequested = true
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ConnectionQuiesceEvent {
            isDraining = true
            release(context: context, completingRead: true)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduledRelease?.cancel()
        scheduledRelease = nil
    }

    /// Passes on as many held lines as there are tokens, and plans the next release.
    private func release(context: ChannelHandlerContext, completingRead: Bool) {
        var released = false
        let now = NIODeadline.now()  // once: the lines of one pass are released at one moment
        while !held.isEmpty, isDraining || bucket.delayUntilAvailable(at: now) == .zero {
            bucket.spend(at: now)
            context.fireChannelRead(held.removeFirst())
            released = true
        }
        if released && completingRead { context.fireChannelReadComplete() }
        guard held.isEmpty else {
            guard scheduledRelease == nil else { return }
            let delay = bucket.delayUntilAvailable(at: now)
            scheduledRelease = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                self.scheduledRelease = nil
                self.release(context: context, completingRead: true)
            }
            return
        }
        if readRequested {
            readRequested = false
            context.read()
        }
    }
}
