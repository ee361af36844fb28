import KabarProtocol
import NIOCore

// MARK: - EventOutbox

/// A connection's event frames waiting to be written, and its subscription's state, on
/// its event loop.
///
///     subscribe ─▶ started (replay held) ─▶ its reply written ─▶ replay streamed ─▶ live events
///
/// The replay of a subscription waits until the `subscribe` reply is written, then is
/// encoded a piece at a time as the socket takes it, so a replay of any size to a client
/// that reads never piles up. Live events are encoded when they come and count against
/// ``maximumHeldBytes``: a client that leaves more than that unread is cut off.
struct EventOutbox {
    /// PROTOCOL.md, "Slow subscribers": more event bytes than this held for a connection
    /// closes it.
    static let maximumHeldBytes = 1 << 20
    /// The most replay bytes encoded for one write.
    static let replayPieceBytes = 64 * 1024

    /// A subscription whose replay is read, waiting for its `subscribe` reply to be written.
    private struct Start {
        var sink: ConnectionEventSink
        var replay: [ChatMessage]
        var held: [LiveEvent]
    }

    /// Subscriptions started, in the order of their `subscribe` replies.
    private var starts: [Start] = []
    /// The subscription whose events are written.
    private var current: ConnectionEventSink?
    private var replay: ArraySlice<ChatMessage> = []
    private var live = CircularBuffer<ByteBuffer>()
    /// Encoded live-event bytes not written yet.
    private(set) var heldBytes = 0

    /// Whether a replay is still being written: replies after its `subscribe` reply wait.
    var isReplaying: Bool { !replay.isEmpty }

    /// Whether nothing waits to be written.
    var isEmpty: Bool { replay.isEmpty && live.isEmpty }

    /// Takes a hand-over from a sink. - Returns: false if the connection now holds more
    /// than ``maximumHeldBytes`` of events and must be closed.
    mutating func receive(_ handover: ConnectionEventSink.Handover, from sink: ConnectionEventSink) -> Bool {
        switch handover {
        case .started(let replay, let held):
            starts.append(Start(sink: sink, replay: replay, held: held))
        case .events(let events):
            if let index = starts.lastIndex(where: { $0.sink === sink }) {
                starts[index].held += events
            } else if sink === current {
                append(events)
            }
        }
        return heldBytes <= Self.maximumHeldBytes
    }

    /// The oldest started subscription's `subscribe` reply was written: it becomes the
    /// connection's subscription, replacing any earlier one.
    mutating func subscribeReplyWritten() {
        guard !starts.isEmpty else { return }
        let start = starts.removeFirst()
        current = start.sink
        replay = start.replay[...]
        append(start.held)
    }

    /// The subscription ended on this connection (`unsubscribe`, `logout`, a new `auth`):
    /// nothing more of it is written.
    mutating func end() {
        starts.removeAll()
        current = nil
        replay = []
        live.removeAll()
        heldBytes = 0
    }

    /// The next frames to write, as one buffer: a piece of the replay, else the live
    /// events waiting; nil if there is nothing (or the subscription ended elsewhere).
    mutating func nextWrite(allocator: ByteBufferAllocator) -> ByteBuffer? {
        if current?.isEnded == true { end() }
        if !replay.isEmpty {
            var buffer = allocator.buffer(capacity: 1024)
            while let message = replay.first, buffer.readableBytes < Self.replayPieceBytes {
                ReplyEncoder.write(.message(message), into: &buffer)
                replay.removeFirst()
            }
            return buffer
        }
        guard var buffer = live.popFirst() else { return nil }
        heldBytes -= buffer.readableBytes
        while let next = live.first, buffer.readableBytes + next.readableBytes <= Self.replayPieceBytes {
            var next = live.removeFirst()
            heldBytes -= next.readableBytes
            buffer.writeBuffer(&next)
        }
        return buffer
    }

    private mutating func append(_ events: [LiveEvent]) {
        guard !events.isEmpty else { return }
        var buffer = ByteBuffer()
        for event in events { ReplyEncoder.write(event, into: &buffer) }
        heldBytes += buffer.readableBytes
        live.append(buffer)
    }
}
