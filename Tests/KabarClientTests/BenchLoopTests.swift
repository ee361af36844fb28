import KabarProtocol
import NIOCore
import Synchronization
import Testing

@testable import KabarBench

/// `kabar-bench`'s closed loop without a socket: replies found across reads, each one
/// letting the next request go.
@Suite("kabar-bench loop")
struct BenchLoopTests {
    private static let token = SessionToken("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")!
    private static let ok = #"{"status": "OK", "message": "sent"}"# + "\r\n\r\n"
    private static let refusal = #"{"status": "ERROR", "message": "no such user"}"# + "\r\n\r\n"
    private let allocator = ByteBufferAllocator()

    private func makeLoop(pipeline: Int, requests: Int? = nil) -> (BenchLoop, BenchShared) {
        var configuration = BenchConfiguration()
        configuration.operation = .send
        configuration.users = 2
        let workload = BenchWorkload(configuration: configuration, connectionIndex: 0, token: Self.token, allocator: allocator)
        let shared = BenchShared(requestLimit: requests)
        shared.start(at: 0, warmup: 0, duration: nil)
        return (BenchLoop(workload: workload, pipeline: pipeline), shared)
    }

    private func receive(_ text: String, into loop: inout BenchLoop, shared: BenchShared) -> (Int, BenchLoop.LoginOutcome) {
        receive(Array(text.utf8)[...], into: &loop, shared: shared)
    }

    private func receive(_ bytes: ArraySlice<UInt8>, into loop: inout BenchLoop, shared: BenchShared)
        -> (Int, BenchLoop.LoginOutcome)
    {
        bytes.withUnsafeBytes { loop.receive($0, shared: shared, allocator: allocator) }
    }

    private func output(of loop: inout BenchLoop) -> String {
        loop.takeOutput().map { String(buffer: $0) } ?? ""
    }

    @Test("logs in with its session, then keeps the pipeline full: one request per reply")
    func pipelineStaysFull() {
        var (loop, shared) = makeLoop(pipeline: 3)
        let login = loop.logIn(at: 1).map { String(buffer: $0) }
        #expect(login == "show \(Self.token.text)\r\n")
        #expect(loop.logIn(at: 2) == nil)  // once

        #expect(receive(Self.ok, into: &loop, shared: shared).1 == .succeeded)
        #expect(loop.phase == .ready)
        let started = loop.start(at: 10, shared: shared, allocator: allocator)
        #expect(started)
        #expect(output(of: &loop) == String(repeating: "send bench-1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", count: 3))

        // Two replies, the second cut in the middle of its terminator, then the rest.
        let two = Array((Self.ok + Self.refusal).utf8)
        #expect(receive(two.dropLast(3), into: &loop, shared: shared).0 == 1)
        #expect(output(of: &loop) == "send bench-1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n")
        #expect(receive(two.suffix(3), into: &loop, shared: shared).0 == 1)
        #expect(loop.statistics.completed == 2)
        #expect(loop.statistics.errors == 1)
        #expect(loop.inFlight == 3)
        let finishedEarly = loop.finishIfIdle()
        #expect(!finishedEarly)
    }

    @Test("the next requests reuse a written buffer's memory, and never write over one still held")
    func outputBufferReuse() {
        var (loop, shared) = makeLoop(pipeline: 1)
        _ = loop.logIn(at: 0)
        _ = receive(Self.ok, into: &loop, shared: shared)
        _ = loop.start(at: 1, shared: shared, allocator: allocator)
        let address = { (buffer: ByteBuffer) in buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) } }

        // Written (the channel let it go): the next request goes into the same memory. A
        // buffer of the same size made meanwhile would take that memory had it been freed.
        let (first, capacity) = loop.takeOutput().map { (address($0), $0.capacity) } ?? (0, 0)
        let decoy = allocator.buffer(capacity: capacity)
        _ = receive(Self.ok, into: &loop, shared: shared)
        let second = loop.takeOutput()
        #expect(second.map(address) == first)
        #expect(address(decoy) != first)

        // Still held (the channel has not written it): the next request gets its own copy.
        _ = receive(Self.refusal, into: &loop, shared: shared)
        let third = loop.takeOutput()
        #expect(third.map(address) != second.map(address))
        #expect(second.map { String(buffer: $0) } == "send bench-1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n")
        #expect(third.map { String(buffer: $0) } == "send bench-1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n")
    }

    @Test("replies are found wherever the reads cut them, carriage returns inside them included")
    func replyEnds() {
        let stream = Self.ok + Self.refusal + #"{"status": "OK", "message": "a\r b\r\n c\r\n\r"}"# + "\r\n\r\n"
            + "{}\r\n\r\n" + #"{"status": "OK"}"# + "\r\r\n\r\n" + #"{"status": "OKAY"}"# + "\r\n\r\n"
        let bytes = Array(stream.utf8)
        let expected = [true, false, true, false, true, false]  // "OKAY" is not "OK"

        func replies(cutAt cuts: [Int]) -> [Bool] {
            var scanner = ReplyScanner()
            var found: [Bool] = []
            for (start, end) in zip([0] + cuts, cuts + [bytes.count]) {
                bytes[start..<end].withUnsafeBytes { read in
                    var position = 0
                    while let (end, ok) = scanner.nextReplyEnd(in: read, from: position) {
                        found.append(ok)
                        position = end
                    }
                }
            }
            return found
        }
        #expect(replies(cutAt: []) == expected)
        for cut in 1..<bytes.count {
            #expect(replies(cutAt: [cut]) == expected, "cut at \(cut)")
        }
        #expect(replies(cutAt: Array(1..<bytes.count)) == expected)  // a byte per read
    }

    @Test("a bounded run ends when its last reply is in; a refused login ends it at once")
    func endings() {
        var (loop, shared) = makeLoop(pipeline: 2, requests: 3)
        _ = loop.logIn(at: 0)
        _ = receive(Self.ok, into: &loop, shared: shared)
        _ = loop.start(at: 1, shared: shared, allocator: allocator)
        _ = receive(Self.ok + Self.ok + Self.ok, into: &loop, shared: shared)
        #expect(loop.statistics.completed == 3)
        #expect(loop.inFlight == 0)
        let finished = loop.finishIfIdle()
        #expect(finished)
        #expect(loop.phase == .finished)
        #expect(shared.issued.load(ordering: .relaxed) > 3)  // the fourth and fifth were not sent

        var (refused, refusedShared) = makeLoop(pipeline: 1)
        _ = refused.logIn(at: 0)
        #expect(receive(Self.refusal, into: &refused, shared: refusedShared).1 == .refused)
        #expect(refused.phase == .finished)
        #expect(refused.statistics.errors == 1)
        let lostAfterRefusal = refused.connectionLost()
        #expect(!lostAfterRefusal)

        var (lost, lostShared) = makeLoop(pipeline: 4)
        _ = lost.logIn(at: 0)
        _ = receive(Self.ok, into: &lost, shared: lostShared)
        _ = lost.start(at: 1, shared: lostShared, allocator: allocator)
        let lostWhileRunning = lost.connectionLost()
        #expect(lostWhileRunning)
        #expect(lost.statistics.errors == 4)
    }
}
