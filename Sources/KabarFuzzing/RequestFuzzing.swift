import KabarProtocol
import NIOCore

// MARK: - RequestFuzzing

/// The fuzzing harness for the request path: framing, UTF-8 validation, parsing and the
/// encoder's round trip, fed with arbitrary bytes split at arbitrary points.
///
/// The first input byte picks the chunk size; the rest is the byte stream. Every property
/// below is a `precondition`, so a violation is a crash that libFuzzer reports.
/// `scripts/fuzz` builds it with libFuzzer; the tests replay `Fuzz/corpus` through it.
public enum RequestFuzzing {
    static let lineLimit = 64

    public static func run(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first else { return }
        let chunkSize = Int(first % 32) + 1
        var framer = LineFramer(maximumLineLength: lineLimit)
        var buffer = ByteBuffer()
        // The connection's way, which must find the same frames: each chunk is a read.
        var incoming = IncomingLines(maximumLineLength: lineLimit)
        var offset = 1
        while offset < input.count {
            let end = min(input.count, offset + chunkSize)
            let chunk = UnsafeRawBufferPointer(rebasing: input[offset..<end])
            buffer.writeBytes(chunk)
            incoming.append(ByteBuffer(bytes: chunk))
            offset = end
            while let frame = framer.nextFrame(from: &buffer) {
                if case .line(let line) = frame { check(line) }
                let same = incoming.popFirstFrame()
                precondition(same == frame, "IncomingLines found \(String(describing: same)), the framer \(frame)")
            }
            precondition(incoming.isEmpty, "IncomingLines found a frame the framer did not")
            // The framer never holds more than one line's worth of bytes.
            precondition(buffer.readableBytes <= lineLimit + 1, "framer buffered \(buffer.readableBytes) bytes")
        }
    }

    private static func check(_ line: ByteBuffer) {
        precondition(line.readableBytes <= lineLimit, "a line over the limit got through")
        precondition(!line.readableBytesView.contains(UInt8(ascii: "\n")), "a line contains a newline")
        guard case .success(let request)? = RequestParser.parse(line: line) else { return }
        // What the client library would send for this request means the same request.
        let encoded = RequestEncoder.line(for: request)
        let reparsed = RequestParser.parse(line: String(decoding: encoded.utf8.dropLast(2), as: UTF8.self))
        guard case .success(let again)? = reparsed else {
            preconditionFailure("re-encoded request does not parse: \(encoded.debugDescription)")
        }
        switch (request, again) {
        case (.send(let session, let recipients, _), .send(let sessionAgain, let recipientsAgain, _)):
            precondition(session == sessionAgain && recipients == recipientsAgain, "send changed meaning")
        case (.register, .register), (.auth, .auth), (.inbox, .inbox), (.show, .show), (.logout, .logout), (.ping, .ping):
            break
        default:
            preconditionFailure("re-encoded request changed kind: \(request) -> \(again)")
        }
        // Replies to it are always well-formed JSON.
        var reply = ByteBuffer()
        ReplyEncoder.write(.refused(.malformedRequest), into: &reply)
        precondition(reply.readableBytes > 0)
    }
}

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func kabarFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    RequestFuzzing.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}
