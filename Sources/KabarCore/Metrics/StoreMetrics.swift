import Metrics

// MARK: - StoreMetrics

/// What the stores record about their commits, through swift-metrics (nothing is recorded
/// unless the process bootstraps a metrics backend). Both stores use the same names, told
/// apart by the `store` label.
public struct StoreMetrics: Sendable {
    private let batchSizes: Recorder
    private let commitDurations: Metrics.Timer
    private let flushDurations: Metrics.Timer

    /// - Parameter store: `sqlite` or `postgres`.
    public init(store: String) {
        batchSizes = Recorder(label: "kabar_store_commit_batch_size", dimensions: [("store", store)], aggregate: true)
        commitDurations = Metrics.Timer(
            label: "kabar_store_commit_duration_seconds", dimensions: [("store", store)], preferredDisplayUnit: .seconds
        )
        flushDurations = Metrics.Timer(
            label: "kabar_log_flush_duration_seconds", dimensions: [("store", store)], preferredDisplayUnit: .seconds
        )
    }

    /// A transaction that committed `units` units of work (requests) took `duration`.
    public func committed(units: Int, in duration: Duration) {
        batchSizes.record(units)
        commitDurations.recordNanoseconds(duration.wholeNanoseconds)
    }

    /// A flush of the log (`fdatasync`) took `duration`.
    public func flushed(in duration: Duration) {
        flushDurations.recordNanoseconds(duration.wholeNanoseconds)
    }
}
