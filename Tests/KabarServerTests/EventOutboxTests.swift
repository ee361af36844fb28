import Foundation
import KabarCore
import KabarProtocol
@testable import KabarServer
import NIOCore
import NIOEmbedded
import Testing

/// A connection's waiting events as a value: replay after its reply, live events after the
/// replay, the 1 MiB limit, and what ends a subscription.
@Suite("Event outbox")
struct EventOutboxTests {
    let loop = EmbeddedEventLoop()

    func message(_ id: Int64, _ text: String = "hi") -> ChatMessage {
        ChatMessage(id: id, from: "messi", to: "henderson", fromName: "Lionel Messi", toName: "Jordan Henderson", text: text, timeMilliseconds: 0)
    }

    func sink() -> ConnectionEventSink {
        ConnectionEventSink(eventLoop: loop) { _, _ in }
    }

    /// Every frame the outbox gives, in order, as the ids of the messages they carry.
    func drain(_ outbox: inout EventOutbox) -> [Int64] {
        var text = ""
        while let buffer = outbox.nextWrite(allocator: ByteBufferAllocator()) { text += String(buffer: buffer) }
        return text.components(separatedBy: "\r\n\r\n").dropLast().compactMap { frame in
            (try? JSONParser.parse(frame))?["message"]?["id"]?.integerValue.map(Int64.init)
        }
    }

    @Test("the replay waits for its subscribe reply; live events come after the replay")
    func replayThenLive() {
        var outbox = EventOutbox()
        let first = sink()
        let accepted1 = outbox.receive(.started(replay: [message(1), message(2)], then: [.message(message(3))]), from: first)
        #expect(accepted1)
        let accepted2 = outbox.receive(.events([.message(message(4))]), from: first)
        #expect(accepted2)
        #expect(outbox.isEmpty, "nothing before the subscribe reply is written")
        outbox.subscribeReplyWritten()
        #expect(outbox.isReplaying)
        let accepted3 = outbox.receive(.events([.message(message(5))]), from: first)
        #expect(accepted3)
        #expect(drain(&outbox) == [1, 2, 3, 4, 5])
        #expect(!outbox.isReplaying && outbox.isEmpty && outbox.heldBytes == 0)
    }

    @Test("events of a replaced or unknown subscription are dropped")
    func staleSinks() {
        var outbox = EventOutbox()
        let first = sink()
        let second = sink()
        _ = outbox.receive(.started(replay: [], then: []), from: first)
        outbox.subscribeReplyWritten()
        _ = outbox.receive(.started(replay: [message(10)], then: []), from: second)
        outbox.subscribeReplyWritten()
        let accepted4 = outbox.receive(.events([.message(message(11))]), from: first)
        #expect(accepted4)
        let accepted5 = outbox.receive(.events([.message(message(12))]), from: second)
        #expect(accepted5)
        let accepted6 = outbox.receive(.events([.message(message(13))]), from: sink())
        #expect(accepted6)
        #expect(drain(&outbox) == [10, 12])
    }

    @Test("more than 1 MiB of live events held: the connection must go; end() forgets everything")
    func limitAndEnd() {
        var outbox = EventOutbox()
        let subscription = sink()
        _ = outbox.receive(.started(replay: [], then: []), from: subscription)
        outbox.subscribeReplyWritten()
        let big = String(repeating: "x", count: 10_000)
        var accepted = true
        var count = 0
        while accepted, count < 1_000 {
            accepted = outbox.receive(.events([.message(message(Int64(count), big))]), from: subscription)
            count += 1
        }
        #expect(!accepted)
        #expect(outbox.heldBytes > EventOutbox.maximumHeldBytes)
        #expect(count > 100, "refused after \(count) events of 10 kB")
        outbox.end()
        #expect(outbox.isEmpty && outbox.heldBytes == 0)
        let accepted7 = outbox.receive(.events([.message(message(1))]), from: subscription)
        #expect(accepted7)
        #expect(outbox.isEmpty, "the ended subscription's events are dropped")
    }

    @Test("a subscription ended elsewhere (logout) writes nothing more")
    func endedElsewhere() {
        var outbox = EventOutbox()
        let subscription = sink()
        _ = outbox.receive(.started(replay: [message(1)], then: []), from: subscription)
        outbox.subscribeReplyWritten()
        subscription.end()
        #expect(outbox.nextWrite(allocator: ByteBufferAllocator()) == nil)
    }

    @Test("the sink holds events until the replay, then drops message events the replay covers")
    func sinkOrder() throws {
        let handed = Locked<[ConnectionEventSink.Handover]>([])
        let subscription = ConnectionEventSink(eventLoop: loop) { handover, _ in handed.withLock { $0.append(handover) } }
        subscription.push([.message(message(5)), .message(message(7)), .sent(message(6))])
        subscription.begin(replay: UnreadSnapshot(messages: [message(5)], lastCommittedID: 6))
        subscription.push([.message(message(6)), .message(message(8))])
        loop.run()
        let handovers = handed.withLock { $0 }
        #expect(handovers.count == 2)
        guard case .started(let replay, let held) = handovers.first, case .events(let live) = handovers.last else {
            Issue.record("unexpected hand-overs \(handovers)")
            return
        }
        #expect(replay == [message(5)])
        #expect(held == [.message(message(7)), .sent(message(6))])
        #expect(live == [.message(message(8))])
    }
}

