import KabarCore
import KabarProtocol

// MARK: - BurstRecordingStore

/// A ``ChatStore`` that passes everything to another store, bursts of deliveries as bursts
/// (a ``ForwardingStore`` otherwise delivers them one by one), and records how many
/// messages each burst held.
public final class BurstRecordingStore: ForwardingStore {
    public let base: any ChatStore
    private let sizes = Locked<[Int]>([])

    public init(wrapping base: any ChatStore) {
        self.base = base
    }

    /// The number of messages of each burst handed in so far, in order.
    public var burstSizes: [Int] { sizes.withLock { $0 } }

    public func deliver(_ messages: [OutgoingMessage], at now: Timestamp, completion: @escaping StoreCompletion<[DeliveryOutcome]>) {
        sizes.withLock { $0.append(messages.count) }
        base.deliver(messages, at: now, completion: completion)
    }
}
