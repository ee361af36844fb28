import NIOCore

// MARK: - ConnectionQuiesceEvent

/// Sent through a connection's pipeline at graceful shutdown: stop reading requests.
struct ConnectionQuiesceEvent: Sendable {}

// MARK: - ReadStopper

/// Ends the stream of requests at graceful shutdown, and closes so that the client
/// receives every reply, for plain and TLS connections alike.
///
///     reading ──quiesce──▶ draining ──drain time──▶ stopped ──close──▶ lingering ──▶ closed
///                         (still reads)            (reads nothing;   (output closed;  (the client
///                                                   input ended)      input dropped)   closed, or
///                                                                                      linger time)
///
/// On ``ConnectionQuiesceEvent`` it goes on reading for ``drainTime`` (one second by
/// default), so that lines a client had already sent, a pipelined burst among them, are
/// read and answered; then it stops reading, drops anything that still arrives, and tells
/// the ``ConnectionHandler`` that input has ended; that answers every request read and
/// closes the connection. The drain is bounded, not "until the client goes quiet": a
/// client that sends its next request as soon as the last is answered never goes quiet,
/// and a rolling restart must not wait the whole shutdown timeout for it.
///
/// The close that follows is lingering. Closing a socket whose input holds unread bytes
/// (the busy client's next request) makes the kernel reset the connection, which throws
/// away replies not yet delivered. So it closes only the output: the client reads every
/// reply and then the end of the stream. It reads and drops the client's input until the
/// client closes too, or ``lingerTime`` passes, and only then closes the socket.
///
/// A connection gets its stopper only at shutdown (``quiesce(_:drainTime:)``), so that no
/// read of a running server passes through one more handler. It goes right before the
/// ``ConnectionHandler``, which cuts reads into lines: the reads and read requests it sees
/// are the socket's own.
final class ReadStopper: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny

    static let defaultDrainTime: TimeAmount = .seconds(1)
    static let lingerTime: TimeAmount = .milliseconds(500)

    private enum State {
        case reading
        /// Shutting down: still reading what comes, until the drain time is over.
        case draining(end: Scheduled<Void>)
        /// Input ended: nothing more is read.
        case stopped
        /// The output is closed; the client's input is read and dropped until it closes.
        case lingering(timeout: Scheduled<Void>, closePromise: EventLoopPromise<Void>?)
        case closed
    }

    private let drainTime: TimeAmount
    private var state = State.reading

    /// - Parameter drainTime: how long a shutting-down connection still reads.
    init(drainTime: TimeAmount = ReadStopper.defaultDrainTime) {
        self.drainTime = drainTime
    }

    /// Begins `channel`'s graceful shutdown: puts a stopper right before its connection
    /// handler and sends ``ConnectionQuiesceEvent`` through its pipeline. A connection
    /// closing meanwhile (its handler already removed) only gets the event.
    static func quiesce(_ channel: any Channel, drainTime: TimeAmount) {
        channel.eventLoop.execute {
            let pipeline = channel.pipeline.syncOperations
            if let handler = try? pipeline.handler(type: ConnectionHandler.self) {
                try? pipeline.addHandler(ReadStopper(drainTime: drainTime), position: .before(handler))
            }
            pipeline.fireUserInboundEventTriggered(ConnectionQuiesceEvent())
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard isReadingRequests else { return }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard isReadingRequests else { return }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch (state, event) {
        case (.reading, is ConnectionQuiesceEvent):
            let end = context.eventLoop.assumeIsolated().scheduleTask(in: drainTime) { [self] in
                self.endInput(context: context)
            }
            state = .draining(end: end)
        case (.lingering, let event as ChannelEvent) where event == .inputClosed:
            // The client has read the end of our output and closed its side.
            return closeNow(context: context)
        default:
            break
        }
        // The connection handler sees the quiesce event too (flood control lets the lines
        // it holds go at once).
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .lingering(let timeout, let promise) = state {
            // The client reset the connection, or another handler closed it.
            timeout.cancel()
            state = .closed
            promise?.succeed()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        switch state {
        case .draining(let end): end.cancel()
        case .lingering(let timeout, _): timeout.cancel()
        case .reading, .stopped, .closed: break
        }
        state = .closed
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        switch state {
        case .reading, .draining, .lingering: context.read()
        case .stopped, .closed: break
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (state, mode) {
        case (.stopped, .all):
            let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { [self] in
                self.closeNow(context: context)
            }
            state = .lingering(timeout: timeout, closePromise: promise)
            let outputClosed = context.eventLoop.makePromise(of: Void.self)
            outputClosed.futureResult.assumeIsolated().whenFailure { _ in self.closeNow(context: context) }
            context.close(mode: .output, promise: outputClosed)
            context.read()
        case (.lingering(let timeout, let lingeringPromise), .all):
            timeout.cancel()
            state = .closed
            lingeringPromise.map { promise?.futureResult.cascade(to: $0) }
            context.close(mode: .all, promise: promise)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: Steps

    private var isReadingRequests: Bool {
        switch state {
        case .reading, .draining: true
        case .stopped, .lingering, .closed: false
        }
    }

    private func endInput(context: ChannelHandlerContext) {
        guard case .draining = state else { return }
        state = .stopped
        context.fireChannelReadComplete()
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    private func closeNow(context: ChannelHandlerContext) {
        guard case .lingering(let timeout, let promise) = state else { return }
        timeout.cancel()
        state = .closed
        context.close(mode: .all, promise: promise)
    }
}
