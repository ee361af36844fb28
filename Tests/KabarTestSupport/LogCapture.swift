import KabarCore
import Logging

// MARK: - LogCapture

/// Collects every log line a server writes, formatted as the real handler would.
public final class LogCapture: Sendable {
    private let lines = Locked<[String]>([])

    public init() {}

    /// A handler factory for `withTestServer(logHandler:)`.
    public var handler: @Sendable (String) -> any LogHandler {
        { [self] label in CapturingLogHandler(label: label, capture: self) }
    }

    public var text: String { lines.withLock { $0.joined(separator: "\n") } }

    fileprivate func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let error = event.error.map { " error=\($0)" } ?? ""
        capture.append("\(event.level) \(label): \(fields) \(event.message)\(error)")
    }
}
