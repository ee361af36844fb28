import KabarServer
import Metrics
import Prometheus

// MARK: - MetricsBootstrap

/// Makes swift-metrics record into a Prometheus registry, for `--metrics-port`. Called
/// before anything records a metric (the stores and the server make their handles on first
/// use, after this).
enum MetricsBootstrap {
    static func prometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["kabar_store_commit_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        let fine: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        factory.defaultDurationHistogramBuckets = fine
        MetricsSystem.bootstrap(factory)
        ServerMetrics.startRecordingRequests()
        return registry
    }
}
