import KabarProtocol
import NIOCore
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

    /// Every frame `IncomingLines` cuts from `chunks`, one read per chunk.
    private func incomingFrames(_ chunks: [String], limit: Int) -> [LineFramer.Frame] {
        var lines = IncomingLines(maximumLineLength: limit)
        var frames: [LineFramer.Frame] = []
        for chunk in chunks {
            lines.append(ByteBuffer(string: chunk))
            while let frame = lines.popFirst() { frames.append(frame) }
        }
        return frames
    }

    @Test("IncomingLines: byte by byte and all at once give the same frames")
    func incomingLinesSplits() {
        let input = "auth messi surabaya\r\nsend henderson hi\nping\r\n0123456789012345678901234567890123456789\r\nping\n"
        let expected: [LineFramer.Frame] = [
            .line(ByteBuffer(string: "auth messi surabaya")), .line(ByteBuffer(string: "send henderson hi")),
            .line(ByteBuffer(string: "ping")), .tooLong, .line(ByteBuffer(string: "ping")),
        ]
        #expect(incomingFrames([input], limit: 24) == expected)
        #expect(incomingFrames(input.map { String($0) }, limit: 24) == expected)
        #expect(incomingFrames(["auth messi sura", "baya\r\nsend henderson hi\nping\r", "\n012345678901234567890",
                                "1234567890123456789\r\nping\n"], limit: 24) == expected)
    }

    @Test("IncomingLines: one read's lines wait while later reads add to the unfinished one")
    func incomingLinesKeepFrames() {
        var lines = IncomingLines(maximumLineLength: 64)
        #expect(lines.append(ByteBuffer(string: "ping\r\nsend henderson one\r\nsend hen")) == 2)
        #expect(lines.append(ByteBuffer(string: "derson two")) == 0)
        #expect(lines.append(ByteBuffer(string: "\r\ninbox\r\n")) == 2)
        #expect(lines.count == 4)
        var taken: [LineFramer.Frame] = []
        while let frame = lines.popFirst() { taken.append(frame) }
        #expect(taken == ["ping", "send henderson one", "send henderson two", "inbox"].map { .line(ByteBuffer(string: $0)) })
        #expect(lines.isEmpty)
    }

    @Test("IncomingLines: an unfinished line at the end of input is not a request; lines cut before it stay")
    func incomingLinesEndOfInput() {
        var lines = IncomingLines(maximumLineLength: 8)
        lines.append(ByteBuffer(string: "ping\r\n0123456789\r\nping\r\npart"))
        lines.endOfInput()
        lines.append(ByteBuffer(string: "ial\r\n"))
        var taken: [LineFramer.Frame] = []
        while let frame = lines.popFirst() { taken.append(frame) }
        // "ial" after the end is a line of its own: what came before the end was dropped.
        #expect(taken == [.line(ByteBuffer(string: "ping")), .tooLong, .line(ByteBuffer(string: "ping")), .line(ByteBuffer(string: "ial"))])
    }
}
