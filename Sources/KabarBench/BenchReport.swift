import Histogram

// MARK: - BenchReport

/// The outcome of a run, printed like redis-benchmark or as JSON.
public struct BenchReport: Sendable {
    public let configuration: BenchConfiguration
    let statistics: BenchStatistics
    /// The measured span (warm-up excluded).
    public let elapsed: Duration

    init(configuration: BenchConfiguration, statistics: BenchStatistics, elapsed: Duration) {
        self.configuration = configuration
        self.statistics = statistics
        self.elapsed = elapsed
    }

    /// Replies received in the measured span.
    public var completed: Int { statistics.completed }
    /// Replies that were not `OK`, plus requests lost with a connection.
    public var errors: Int { statistics.errors }

    public var requestsPerSecond: Double { perSecond(completed) }

    /// Latency at `percentile` (0...100), in milliseconds.
    public func latencyMilliseconds(atPercentile percentile: Double) -> Double {
        milliseconds(statistics.latencies.valueAtPercentile(percentile))
    }

    public var maximumLatencyMilliseconds: Double { milliseconds(statistics.latencies.max) }

    /// `--op push`: events read by the subscribers in the measured span.
    public var delivered: Int { statistics.delivered }

    public var eventsPerSecond: Double { perSecond(delivered) }

    /// `--op push`: delivery latency at `percentile`, in milliseconds.
    public func deliveryMilliseconds(atPercentile percentile: Double) -> Double {
        milliseconds(statistics.deliveries.valueAtPercentile(percentile))
    }

    public var maximumDeliveryMilliseconds: Double { milliseconds(statistics.deliveries.max) }

    private func perSecond(_ count: Int) -> Double {
        let seconds = Double(elapsed.nanoseconds) / 1e9
        return seconds > 0 ? Double(count) / seconds : 0
    }

    private func milliseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e6 }

    static let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)]

    /// The human-readable summary.
    public var text: String {
        let name = configuration.operation.rawValue.uppercased()
        let latencies = percentiles(latencyMilliseconds, maximum: maximumLatencyMilliseconds, separator: " ") { "\($0)=\($1)" }
        let deliveryLatencies = percentiles(deliveryMilliseconds, maximum: maximumDeliveryMilliseconds, separator: " ") { "\($0)=\($1)" }
        return """
            ====== \(name) ======
              \(completed) requests completed in \(format(Double(elapsed.nanoseconds) / 1e9)) seconds
              \(configuration.connections) parallel clients, pipeline \(configuration.pipeline)
              \(configuration.messageSize) bytes payload, \(configuration.recipients) recipient(s), \(configuration.users) users
              errors: \(errors)
              latency (ms): \(latencies)
            throughput summary: \(format(requestsPerSecond)) requests per second
            """ + (configuration.operation == .push ? """

              \(delivered) events delivered, \(format(eventsPerSecond)) per second
              delivery latency, send written to event read (ms): \(deliveryLatencies)
            """ : "")
    }

    /// The same as one JSON object.
    public var json: String {
        let latency = percentiles(latencyMilliseconds, maximum: maximumLatencyMilliseconds, separator: ", ") { "\"\($0)\": \($1)" }
        return """
            {"operation": "\(configuration.operation.rawValue)", "connections": \(configuration.connections), \
            "pipeline": \(configuration.pipeline), "message_bytes": \(configuration.messageSize), \
            "recipients": \(configuration.recipients), "requests": \(completed), "errors": \(errors), \
            "seconds": \(format(Double(elapsed.nanoseconds) / 1e9)), "requests_per_second": \(format(requestsPerSecond)), \
            "latency_ms": {\(latency)}\(pushJSON)}
            """
    }

    private var pushJSON: String {
        guard configuration.operation == .push else { return "" }
        let latency = percentiles(deliveryMilliseconds, maximum: maximumDeliveryMilliseconds, separator: ", ") { "\"\($0)\": \($1)" }
        return ", \"events\": \(delivered), \"events_per_second\": \(format(eventsPerSecond)), \"delivery_ms\": {\(latency)}"
    }

    /// `p50=…, p90=…, …, max=…`, each entry written by `entry(name, value)`.
    private func percentiles(
        _ value: (Double) -> Double,
        maximum: Double,
        separator: String,
        entry: (String, String) -> String
    ) -> String {
        (Self.percentiles.map { entry($0.0, format(value($0.1))) } + [entry("max", format(maximum))]).joined(separator: separator)
    }

    private func format(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        return "\(scaled)"
    }
}
