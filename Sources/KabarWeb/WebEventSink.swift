import KabarCore
import KabarProtocol
import KabarServer
import NIOCore

// MARK: - WebEventSink

/// One subscription's events on their way to a WebSocket, in the order the protocol
/// gives: the `subscribe` reply, its replay, then live events (minus the `message` events
/// the replay covered).
///
///     starting ──begin(replay)──▶ replayed ──replyWritten()──▶ live ──end()──▶ ended
///     (holds events)             (still holds them)            (queues them)   (drops them)
final class WebEventSink: LiveEventSink {
    private enum State {
        case starting(held: [LiveEvent])
        case replayed(UnreadSnapshot, held: [LiveEvent])
        case live(lastReplayedID: Int64)
        case ended
    }

    private let state = Locked(State.starting(held: []))
    private let outbox: WebOutbox

    init(outbox: WebOutbox) {
        self.outbox = outbox
    }

    func begin(replay: UnreadSnapshot) {
        state.withLock { state in
            guard case .starting(let held) = state else { return }
            state = .replayed(replay, held: held)
        }
    }

    func push(_ events: [LiveEvent]) {
        state.withLock { state in
            switch state {
            case .starting(let held): state = .starting(held: held + events)
            case .replayed(let replay, let held): state = .replayed(replay, held: held + events)
            case .live(let lastID): queue(Self.unreplayed(events, after: lastID))
            case .ended: break
            }
        }
    }

    /// The `subscribe` reply is queued: the replay and what came meanwhile follow it.
    func replyWritten() {
        state.withLock { state in
            guard case .replayed(let replay, let held) = state else { return }
            state = .live(lastReplayedID: replay.lastCommittedID)
            queue(replay.messages.map { .message($0) } + Self.unreplayed(held, after: replay.lastCommittedID))
        }
    }

    func end() {
        state.withLock { $0 = .ended }
    }

    /// Queues frames; called with the lock held, so frames keep the order of the calls.
    private func queue(_ events: [LiveEvent]) {
        guard !events.isEmpty else { return }
        ServerMetrics.pushed(events: events.count)
        let allocator = ByteBufferAllocator()
        let texts = events.map { event -> String in
            var buffer = allocator.buffer(capacity: 256)
            ReplyEncoder.write(event, into: &buffer)
            return WebFrames.text(of: buffer)
        }
        // Past the held-bytes limit the outbox closes the connection, which ends this.
        outbox.events(texts)
    }

    private static func unreplayed(_ events: [LiveEvent], after lastID: Int64) -> [LiveEvent] {
        events.filter { event in
            guard case .message(let message) = event else { return true }
            return message.id > lastID
        }
    }
}
