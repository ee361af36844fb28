import KabarCore
import KabarProtocol
import NIOCore

// MARK: - ConnectionEventSink

/// One subscription's events on their way to a TCP connection's event loop.
///
/// The live-delivery hub calls it from any thread. It keeps the subscription's order
/// itself: events that come before the replay is read are held, then handed over behind
/// the replay, minus the `message` events the replay already covers; each hand-over is
/// queued on the event loop while the sink's lock is held, so the loop gets them in the
/// order they happened.
///
///     starting ──begin(replay)──▶ live ──end()──▶ ended
///     (holds events)              (passes them on)  (drops them; the connection checks
///                                                    ``isEnded`` before writing any)
final class ConnectionEventSink: LiveEventSink {
    /// What the connection's event loop receives.
    enum Handover {
        /// The replay, then the events that came while it was read.
        case started(replay: [ChatMessage], then: [LiveEvent])
        case events([LiveEvent])
    }

    private enum State {
        case starting(held: [LiveEvent])
        case live(lastReplayedID: Int64)
        case ended
    }

    private let state = Locked(State.starting(held: []))
    private let eventLoop: any EventLoop
    private let receive: @Sendable (Handover, ConnectionEventSink) -> Void

    /// - Parameter receive: runs on `eventLoop` with each hand-over, in order.
    init(eventLoop: any EventLoop, receive: @escaping @Sendable (Handover, ConnectionEventSink) -> Void) {
        self.eventLoop = eventLoop
        self.receive = receive
    }

    /// Whether the subscription was ended elsewhere; then none of its events is written.
    var isEnded: Bool {
        state.withLock { if case .ended = $0 { true } else { false } }
    }

    func begin(replay: UnreadSnapshot) {
        ServerMetrics.pushed(events: replay.messages.count)
        state.withLock { state in
            guard case .starting(let held) = state else { return }
            state = .live(lastReplayedID: replay.lastCommittedID)
            hand(.started(replay: replay.messages, then: Self.unreplayed(held, after: replay.lastCommittedID)))
        }
    }

    func push(_ events: [LiveEvent]) {
        ServerMetrics.pushed(events: events.count)
        state.withLock { state in
            switch state {
            case .starting(let held):
                state = .starting(held: held + events)
            case .live(let lastReplayedID):
                let fresh = Self.unreplayed(events, after: lastReplayedID)
                if !fresh.isEmpty { hand(.events(fresh)) }
            case .ended:
                break
            }
        }
    }

    func end() {
        state.withLock { $0 = .ended }
    }

    /// Queues a hand-over on the event loop; called with the lock held, so hand-overs keep
    /// the order of the calls that made them.
    private func hand(_ handover: Handover) {
        let receive = self.receive
        eventLoop.execute { receive(handover, self) }
    }

    /// `events` without the `message` events whose messages a replay up to `lastID` held
    /// (or that were read before it).
    private static func unreplayed(_ events: [LiveEvent], after lastID: Int64) -> [LiveEvent] {
        events.filter { event in
            guard case .message(let message) = event else { return true }
            return message.id > lastID
        }
    }
}
