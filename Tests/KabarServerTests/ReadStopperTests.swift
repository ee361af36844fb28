import KabarProtocol
@testable import KabarServer
import NIOCore
import NIOEmbedded
import Testing

/// The shutdown drain and the lingering close on an `EmbeddedChannel`, whose clock moves
/// only when the test moves it.
@Suite("Shutdown drain (ReadStopper)")
struct ReadStopperTests {
    let channel = EmbeddedChannel()
    let loop: EmbeddedEventLoop
    let recorder = InputClosedRecorder()
    let closes = CloseRecorder()
    static let drainTime = TimeAmount.milliseconds(1_000)

    init() throws {
        loop = channel.embeddedEventLoop
        try channel.pipeline.syncOperations.addHandlers([closes, ReadStopper(drainTime: Self.drainTime), recorder])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8889)).wait()
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

    /// Stops the input as the drain does, then closes as the connection handler does.
    func stopAndClose() throws {
        quiesce()
        advance(toMilliseconds: 1_000)
        #expect(recorder.inputClosed)
        channel.close(promise: nil)
    }

    @Test("lines keep being read during the drain time, however busy the client; input ends when it is over")
    func drainsForTheDrainTime() throws {
        quiesce()
        for milliseconds in stride(from: Int64(100), through: 900, by: 100) {
            advance(toMilliseconds: milliseconds)
            channel.read()
            try receive("send henderson \(milliseconds)")
            #expect(!recorder.inputClosed)
        }
        advance(toMilliseconds: 999)
        #expect(!recorder.inputClosed)
        advance(toMilliseconds: 1_000)
        #expect(recorder.inputClosed)
        for milliseconds in stride(from: Int64(100), through: 900, by: 100) {
            #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "send henderson \(milliseconds)")))
        }
    }

    @Test("after input ended, lines that still arrive are dropped and no more is read")
    func dropsLateLines() throws {
        channel.read()
        quiesce()
        advance(toMilliseconds: 1_000)
        let readsBefore = closes.reads
        channel.read()
        #expect(closes.reads == readsBefore)
        try receive("send henderson late")
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == nil)
    }

    @Test("the close after the drain closes the output first, reads and drops input, and closes when the client does")
    func lingeringCloseEndsWithTheClient() throws {
        try stopAndClose()
        #expect(closes.modes == [.output])
        #expect(channel.isActive)
        let readsBefore = closes.reads
        channel.read()
        #expect(closes.reads == readsBefore + 1, "reads again, to drain the client's input")
        try receive("send henderson while lingering")
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == nil)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(closes.modes == [.output, .all])
        #expect(!channel.isActive)
    }

    @Test("a client that never closes is closed after the linger time")
    func lingeringCloseTimesOut() throws {
        try stopAndClose()
        advance(toMilliseconds: 1_000 + ReadStopper.lingerTime.nanoseconds / 1_000_000 - 1)
        #expect(closes.modes == [.output])
        advance(toMilliseconds: 1_000 + ReadStopper.lingerTime.nanoseconds / 1_000_000)
        #expect(closes.modes == [.output, .all])
        #expect(!channel.isActive)
    }

    @Test("without a shutdown, a close is an ordinary close")
    func ordinaryClose() throws {
        channel.close(promise: nil)
        #expect(closes.modes == [.all])
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

/// Stands for the socket: counts read requests and records closes. `EmbeddedChannel`
/// closes entirely on any close, so a close of the output stops here.
final class CloseRecorder: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny

    private(set) var modes: [CloseMode] = []
    private(set) var reads = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        modes.append(mode)
        guard mode == .all else {
            promise?.succeed()
            return
        }
        context.close(mode: mode, promise: promise)
    }
}
