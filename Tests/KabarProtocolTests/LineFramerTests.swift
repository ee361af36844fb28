import KabarProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite("Line framing")
struct LineFramerTests {
    private func frames(_ chunks: [String], limit: Int = 16) -> [String] {
        var framer = LineFramer(maximumLineLength: limit)
        var buffer = ByteBuffer()
        var result: [String] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let frame = framer.nextFrame(from: &buffer) {
                switch frame {
                case .line(let line): result.append(String(buffer: line))
                case .tooLong: result.append("<too long>")
                }
            }
        }
        return result
    }

    @Test("CRLF and bare LF end lines; many lines in one buffer")
    func terminators() {
        #expect(frames(["a\r\nb\nc\r\n\r\n"]) == ["a", "b", "c", ""])
    }

    @Test("a line split at every byte boundary")
    func splitEverywhere() {
        let text = "auth messi surabaya\r\nping\r\n"
        for cut in 0...text.utf8.count {
            let bytes = Array(text.utf8)
            let chunks = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            #expect(frames(chunks, limit: 64) == ["auth messi surabaya", "ping"])
        }
    }

    @Test("the limit: limit - 1 and limit pass, limit + 1 is refused", arguments: [false, true])
    func limit(split: Bool) {
        let limit = 16
        for (length, expected) in [(limit - 1, "ok"), (limit, "ok"), (limit + 1, "<too long>")] {
            let line = String(repeating: "x", count: length)
            let chunks = split ? [String(line.prefix(length / 2)), String(line.dropFirst(length / 2)) + "\r", "\nping\n"] : [line + "\r\nping\n"]
            let result = frames(chunks, limit: limit)
            #expect(result == [expected == "ok" ? line : expected, "ping"], "length \(length)")
        }
    }

    @Test("an endless line is refused once and discarded as it arrives")
    func endless() {
        var framer = LineFramer(maximumLineLength: 16)
        var buffer = ByteBuffer()
        var refusals = 0
        for _ in 0..<1000 {
            buffer.writeString(String(repeating: "y", count: 100))
            while let frame = framer.nextFrame(from: &buffer) {
                #expect(frame == .tooLong)
                refusals += 1
            }
            #expect(buffer.readableBytes <= 17)
        }
        buffer.writeString("tail\r\nping\r\n")
        var after: [LineFramer.Frame] = []
        while let frame = framer.nextFrame(from: &buffer) { after.append(frame) }
        #expect(refusals == 1)
        #expect(after == [.line(ByteBuffer(string: "ping"))])
    }

    @Test("ByteToMessageDecoderVerifier: byte by byte and all at once")
    func verifier() throws {
        let input = ByteBuffer(string: "auth messi surabaya\r\nsend henderson hi\nping\r\n")
        let expected: [LineFramer.Frame] = [
            .line(ByteBuffer(string: "auth messi surabaya")), .line(ByteBuffer(string: "send henderson hi")),
            .line(ByteBuffer(string: "ping")),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, expected)],
            decoderFactory: { LineFrameDecoder(maximumLineLength: 64) }
        )
    }

    @Test("EmbeddedChannel: a partial line at EOF is not a request, and finish is clean")
    func embedded() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maximumLineLength: 8)))
        try channel.writeInbound(ByteBuffer(string: "ping\r\n0123456789\r\nping\r\npart"))
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "ping")))
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .tooLong)
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == .line(ByteBuffer(string: "ping")))
        #expect(try channel.readInbound(as: LineFramer.Frame.self) == nil)
        #expect(try channel.finish().isClean)
    }
}
