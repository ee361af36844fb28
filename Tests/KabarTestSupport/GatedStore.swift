import KabarCore
import KabarProtocol

// MARK: - GatedStore

/// A ``ChatStore`` that passes everything to another store, except that deliveries wait
/// behind a gate until ``open()``: a store that is slow on demand, to see what the server
/// does while its requests are in progress.
public final class GatedStore: ForwardingStore {
    private struct State {
        var isOpen = true
        var held: [@Sendable () -> Void] = []
        var deliveriesReceived = 0
    }

    public let base: any ChatStore
    private let state = Locked(State())

    public init(wrapping base: any ChatStore) {
        self.base = base
    }

    /// How many deliveries the server has handed in so far.
    public var deliveriesReceived: Int { state.withLock { $0.deliveriesReceived } }

    /// Holds every later delivery until ``open()``.
    public func close() {
        state.withLock { $0.isOpen = false }
    }

    /// Lets the held deliveries through, in the order they came, and every later one.
    ///
    /// The gate opens only once nothing is held: a delivery the server hands in while the
    /// held ones are being passed on (its answer to the first of them) queues behind them.
    public func open() {
        while true {
            let held = state.withLock { state -> [@Sendable () -> Void] in
                if state.held.isEmpty { state.isOpen = true }
                defer { state.held = [] }
                return state.held
            }
            guard !held.isEmpty else { return }
            held.forEach { $0() }
        }
    }

    public func deliver(
        _ text: String,
        from sender: UserRecord,
        to recipients: [Username],
        at now: Timestamp,
        origin: Presence.ConnectionID?,
        completion: @escaping StoreCompletion<[ChatMessage]?>
    ) {
        let base = self.base
        let delivery: @Sendable () -> Void = {
            base.deliver(text, from: sender, to: recipients, at: now, origin: origin, completion: completion)
        }
        let isOpen = state.withLock { state in
            state.deliveriesReceived += 1
            if !state.isOpen { state.held.append(delivery) }
            return state.isOpen
        }
        if isOpen { delivery() }
    }
}
