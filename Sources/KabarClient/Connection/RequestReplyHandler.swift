import KabarProtocol
import NIOCore

// MARK: - RequestReplyHandler

/// Sends requests and matches replies to them in FIFO order (the server answers in
/// request order), failing every waiting request if the connection drops. Event frames
/// of a subscription, which may come between replies, go to `onEvent` instead.
final class RequestReplyHandler: ChannelDuplexHandler {
    typealias InboundIn = String
    typealias OutboundIn = (Request, EventLoopPromise<Result<Reply, ReplyDecoder.ServerRefusal>>)
    typealias OutboundOut = ByteBuffer

    private var waiting: CircularBuffer<(Request, EventLoopPromise<Result<Reply, ReplyDecoder.ServerRefusal>>)> = []
    private let onEvent: (LiveEvent?) -> Void

    /// - Parameter onEvent: gets each event frame, and nil once the connection closed.
    init(onEvent: @escaping (LiveEvent?) -> Void) {
        self.onEvent = onEvent
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (request, replyPromise) = unwrapOutboundIn(data)
        waiting.append((request, replyPromise))
        let line = context.channel.allocator.buffer(string: RequestEncoder.line(for: request))
        context.write(wrapOutboundOut(line), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let text = unwrapInboundIn(data)
        if ReplyDecoder.isEvent(text) {
            if let event = try? ReplyDecoder.decodeEvent(text) { onEvent(event) }
            return
        }
        guard let (request, promise) = waiting.popFirst() else {
            context.fireErrorCaught(KabarClientError(code: .malformedReply))
            context.close(promise: nil)
            return
        }
        do {
            promise.succeed(try ReplyDecoder.decode(text, answering: request))
        } catch {
            promise.fail(KabarClientError(code: .malformedReply))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onEvent(nil)
        failAll(KabarClientError(code: .connectionClosed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let (_, promise) = waiting.popFirst() { promise.fail(error) }
    }
}
