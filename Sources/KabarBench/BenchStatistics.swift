import Histogram

// MARK: - BenchStatistics

/// Latencies and counts of one connection (or, merged, of a whole run).
struct BenchStatistics: Sendable {
    /// Latency in nanoseconds, up to one minute, three significant digits.
    var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var completed = 0
    var errors = 0
    /// `--op push`: from writing a `send` to reading its event, in nanoseconds.
    var deliveries = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var delivered = 0

    mutating func record(deliveryNanoseconds: UInt64) {
        _ = deliveries.record(min(deliveryNanoseconds, 60_000_000_000))
        delivered += 1
    }

    mutating func record(latencyNanoseconds: UInt64, ok: Bool) {
        _ = latencies.record(min(latencyNanoseconds, 60_000_000_000))
        completed += 1
        if !ok { errors += 1 }
    }

    mutating func merge(_ other: BenchStatistics) {
        latencies.add(other.latencies)
        completed += other.completed
        errors += other.errors
        deliveries.add(other.deliveries)
        delivered += other.delivered
    }
}
