@testable import KabarProtocol
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

    /// Takes every line waiting in `lines`, as text, an over-long one as "<too long>".
    private func takeAll(_ lines: inout IncomingLines) -> [String] {
        var taken: [String] = []
        while let line = lines.popFirst(line: { String(decoding: $0, as: UTF8.self) }, tooLong: { "<too long>" }) {
            taken.append(line)
        }
        #expect(lines.isEmpty)
        return taken
    }

    /// Every line `IncomingLines` finds in `chunks`, one read per chunk.
    private func incomingLines(_ chunks: [String], limit: Int) -> [String] {
        var lines = IncomingLines(maximumLineLength: limit)
        return chunks.flatMap { chunk in
            lines.append(ByteBuffer(string: chunk))
            return takeAll(&lines)
        }
    }

    @Test("IncomingLines: byte by byte and all at once give the same lines")
    func incomingLinesSplits() {
        let input = "auth messi surabaya\r\nsend henderson hi\nping\r\n0123456789012345678901234567890123456789\r\nping\n"
        let expected = ["auth messi surabaya", "send henderson hi", "ping", "<too long>", "ping"]
        #expect(incomingLines([input], limit: 24) == expected)
        #expect(incomingLines(input.map { String($0) }, limit: 24) == expected)
        #expect(incomingLines(["auth messi sura", "baya\r\nsend henderson hi\nping\r", "\n012345678901234567890",
                               "1234567890123456789\r\nping\n"], limit: 24) == expected)
        #expect(incomingLines(["\r\n\n\r\n"], limit: 24) == ["", "", ""])
    }

    @Test("IncomingLines: one read's lines wait while later reads add to the unfinished one")
    func incomingLinesKeepLines() {
        var lines = IncomingLines(maximumLineLength: 64)
        #expect(lines.isEmpty)
        // `append` says whether a complete line is waiting, from this read or an earlier one.
        let waiting = ["ping\r\nsend henderson one\r\nsend hen", "derson two", "\r\ninbox\r\n"].map {
            lines.append(ByteBuffer(string: $0))
        }
        #expect(waiting == [true, true, true])
        #expect(takeAll(&lines) == ["ping", "send henderson one", "send henderson two", "inbox"])
        let unfinished = lines.append(ByteBuffer(string: "sho"))
        let finished = lines.append(ByteBuffer(string: "w\n"))
        #expect(!unfinished && finished)
        #expect(takeAll(&lines) == ["show"])
    }

    @Test("IncomingLines at the end of input: an unfinished line is not a request; the lines before it stay, and so does an over-long one's refusal")
    func incomingLinesEndOfInput() {
        func linesAtEnd(_ reads: [String]) -> [String] {
            var lines = IncomingLines(maximumLineLength: 8)
            for read in reads { lines.append(ByteBuffer(string: read)) }
            lines.endOfInput()
            let taken = takeAll(&lines)
            #expect(lines.bytes == nil)
            return taken
        }
        #expect(linesAtEnd(["ping\r\n0123456789\r\nping\r\npart"]) == ["ping", "<too long>", "ping"])
        #expect(linesAtEnd(["ping\r\nsho", "w\r\npar"]) == ["ping", "show"])
        // Past the limit, a line is refused at once, ended or not.
        #expect(linesAtEnd(["ping\r\n0123456789abc"]) == ["ping", "<too long>"])
        #expect(linesAtEnd(["0123456789abc"]) == ["<too long>"])
        #expect(linesAtEnd(["ping\r\n0123456789abc\r\nping"]) == ["ping", "<too long>"])
        #expect(linesAtEnd(["part"]).isEmpty)
        #expect(linesAtEnd([]).isEmpty)
    }

    @Test("IncomingLines keeps only the unfinished line once its lines are taken, and discards an endless one")
    func incomingLinesHoldLittle() {
        var lines = IncomingLines(maximumLineLength: 16)
        lines.append(ByteBuffer(string: String(repeating: "ping\r\n", count: 100) + "send hender"))
        #expect(takeAll(&lines).count == 100)
        #expect(lines.bytes?.readableBytes == 11)
        #expect(lines.bytes?.readerIndex == 0)
        var taken: [String] = []
        for _ in 0..<100 {
            lines.append(ByteBuffer(string: String(repeating: "y", count: 100)))
            taken += takeAll(&lines)
            #expect((lines.bytes?.readableBytes ?? 0) <= 17)
        }
        lines.append(ByteBuffer(string: "tail\r\nping\r\n"))
        #expect(taken + takeAll(&lines) == ["<too long>", "ping"])
        #expect(lines.bytes == nil)
    }
}
