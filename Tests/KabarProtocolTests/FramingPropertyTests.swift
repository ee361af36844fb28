import Foundation
import KabarFuzzing
import KabarProtocol
import NIOCore
import PropertyBased
import Testing

/// Properties of framing and parsing over arbitrary byte streams split arbitrarily.
@Suite("Framing properties")
struct FramingPropertyTests {
    static let limit = 48

    /// Bytes of one line: anything but `\n` (CR, NUL and invalid UTF-8 included).
    static let lineGenerator = Gen<UInt8>.uint8().map { $0 == UInt8(ascii: "\n") ? UInt8(ascii: "x") : $0 }.array(of: 0...80)

    @Test("one frame per complete line, whatever the split; one reply per non-blank line")
    func oneFramePerLine() async {
        await propertyCheck(count: 300, input: Self.lineGenerator.array(of: 0...12), Gen.int(in: 1...40)) { lines, chunkSize in
            let stream = lines.flatMap { $0 + [UInt8(ascii: "\n")] }
            var framer = LineFramer(maximumLineLength: Self.limit)
            var buffer = ByteBuffer()
            var frames: [LineFramer.Frame] = []
            // The connection's way: each chunk is a read, and the lines waiting are taken.
            var incoming = IncomingLines(maximumLineLength: Self.limit)
            var incomingFrames: [LineFramer.Frame] = []
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + chunkSize)
                buffer.writeBytes(stream[offset..<end])
                incoming.append(ByteBuffer(bytes: stream[offset..<end]))
                offset = end
                while let frame = framer.nextFrame(from: &buffer) { frames.append(frame) }
                #expect(buffer.readableBytes <= Self.limit + 1)
                while let frame = incoming.popFirstFrame() {
                    incomingFrames.append(frame)
                }
                #expect(incoming.isEmpty)
            }
            let expected: [LineFramer.Frame] = lines.map { line in
                let content = line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line
                return content.count > Self.limit ? .tooLong : .line(ByteBuffer(bytes: content))
            }
            #expect(frames == expected)
            #expect(incomingFrames == expected)

            // Every frame gets at most one reply, and exactly one unless it is blank.
            for frame in frames {
                guard case .line(let line) = frame else { continue }
                let blank = line.readableBytesView.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                #expect((RequestParser.parse(line: line) == nil) == blank)
            }
        }
    }

    @Test("lines left waiting until the end of input: the same frames, an unfinished last line refused only past the limit")
    func framesAtEndOfInput() async {
        await propertyCheck(count: 300, input: Self.lineGenerator.array(of: 0...12), Self.lineGenerator, Gen.int(in: 1...40)) {
            lines, unfinished, chunkSize in
            let stream = lines.flatMap { $0 + [UInt8(ascii: "\n")] } + unfinished
            // A connection whose lines all wait (behind an auth, say) when its input ends.
            var incoming = IncomingLines(maximumLineLength: Self.limit)
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + chunkSize)
                incoming.append(ByteBuffer(bytes: stream[offset..<end]))
                offset = end
            }
            incoming.endOfInput()
            var frames: [LineFramer.Frame] = []
            while let frame = incoming.popFirstFrame() {
                frames.append(frame)
            }
            var expected: [LineFramer.Frame] = lines.map { line in
                let content = line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line
                return content.count > Self.limit ? .tooLong : .line(ByteBuffer(bytes: content))
            }
            // One byte of slack: a line of exactly the limit may still end in "\r".
            if unfinished.count > Self.limit + 1 { expected.append(.tooLong) }
            #expect(frames == expected)
        }
    }

    @Test("the committed fuzz corpus replays without a failure")
    func corpus() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(files.count >= 5)
        for file in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            data.withUnsafeBytes { RequestFuzzing.run($0) }
        }
    }
}
