import KabarProtocol
@testable import KabarServer
import NIOCore
import NIOEmbedded
import Testing

/// The shutdown drain on an `EmbeddedChannel`, whose clock moves only when the test moves
/// it: a look runs exactly when the test says, with no socket poll before it.
@Suite("Shutdown drain (ReadStopper)")
struct ReadStopperTests {
    let channel = EmbeddedChannel()
    let loop: EmbeddedEventLoop
    let recorder = InputClosedRecorder()

    init() throws {
        loop = channel.embeddedEventLoop
        try channel.pipeline.syncOperations.addHandlers([ReadStopper(), recorder])
    }

    func quiesce() {
        channel.pipeline.fireUserInboundEventTriggered(ConnectionQuiesceEvent())
    }

    /// A read from the socket that brings one line.
    func receive(_ text: String) throws {
        try channel.writeInbound(LineFramer.Frame.line(ByteBuffer(string: text)))
        channel.pipeline.fireChannelReadComplete()
    }

    /// Moves the clock to `periods` quiet periods after the start.
    func advance(toPeriods periods: Double) {
        let nanoseconds = Double(ReadStopper.quietPeriod.nanoseconds) * periods
        loop.advanceTime(to: .uptimeNanoseconds(0) + .nanoseconds(Int64(nanoseconds.rounded())))
    }

    @Test("an idle connection that was asking for data ends its input at the first look")
    func idleConnection() {
        channel.read()
        quiesce()
        advance(toPeriods: 0.98)
        #expect(!recorder.inputClosed)
        advance(toPeriods: 1)
        #expect(recorder.inputClosed)
    }

    @Test("lines keep being read while reads are answered; input ends once a request outlives a whole period")
    func drainsUntilARequestOutlivesAPeriod() throws {
        quiesce()
        // Not asking (requests in progress at their limit) never counts as quiet.
        advance(toPeriods: 2.4)
        #expect(!recorder.inputClosed)
        channel.read()
        try receive("send henderson a")
        channel.read()
        // A look just after a request, as after a stall of the event loop: not yet quiet.
        advance(toPeriods: 3)
        #expect(!recorder.inputClosed)
        try receive("send henderson b")
        channel.read()
        advance(toPeriods: 4)
        #expect(!recorder.inputClosed)
        advance(toPeriods: 5)
        #expect(recorder.inputClosed)
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "send henderson a")))
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "send henderson b")))
    }

    @Test("after input ended, lines that still arrive are dropped")
    func dropsLateLines() throws {
        channel.read()
        quiesce()
        advance(toPeriods: 1)
        try receive("send henderson late")
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == nil)
    }
}

/// Notes the `inputClosed` event that ends a connection's requests.
final class InputClosedRecorder: ChannelInboundHandler {
    typealias InboundIn = LineFramer.Frame
    typealias InboundOut = LineFramer.Frame

    private(set) var inputClosed = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed? = event as? ChannelEvent { inputClosed = true }
        context.fireUserInboundEventTriggered(event)
    }
}
