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

    func advance(toMilliseconds milliseconds: Int64) {
        loop.advanceTime(to: .uptimeNanoseconds(0) + .milliseconds(milliseconds))
    }

    @Test("an idle connection that was asking for data ends its input at the first look")
    func idleConnection() {
        channel.read()
        quiesce()
        advance(toMilliseconds: 49)
        #expect(!recorder.inputClosed)
        advance(toMilliseconds: 50)
        #expect(recorder.inputClosed)
    }

    @Test("lines keep being read while reads are answered; input ends once a request outlives a whole period")
    func drainsUntilARequestOutlivesAPeriod() throws {
        quiesce()
        // Not asking (requests in progress at their limit) never counts as quiet.
        advance(toMilliseconds: 120)
        #expect(!recorder.inputClosed)
        channel.read()
        try receive("send henderson a")
        channel.read()
        // A look just after a request, as after a stall of the event loop: not yet quiet.
        advance(toMilliseconds: 150)
        #expect(!recorder.inputClosed)
        try receive("send henderson b")
        channel.read()
        advance(toMilliseconds: 200)
        #expect(!recorder.inputClosed)
        advance(toMilliseconds: 250)
        #expect(recorder.inputClosed)
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "send henderson a")))
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "send henderson b")))
    }

    @Test("after input ended, lines that still arrive are dropped")
    func dropsLateLines() throws {
        channel.read()
        quiesce()
        advance(toMilliseconds: 50)
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
