import KabarCore
import KabarProtocol
import Metrics
import NIOCore
import Synchronization

// MARK: - ServerMetrics

/// The server's metrics, through swift-metrics: nothing is recorded unless the process
/// bootstraps a metrics backend (`kabar-server --metrics-port` bootstraps Prometheus).
///
/// Every handle is made once, so that counting a request costs an atomic add and timing it
/// a histogram update, never a lookup by name.
public enum ServerMetrics {
    /// Makes every handle now, so that a scrape lists each metric (at 0) from the start.
    public static func prepare() {
        _ = (connectionsOpen, connectionsRefused, requests, requestDurations)
        _ = (loginsFailed, loginsThrottled, eventsPushed, subscribersCutOff)
    }

    private static let connectionsOpen = Meter(label: "kabar_connections_open")
    public static func connectionOpened() { connectionsOpen.increment() }
    public static func connectionClosed() { connectionsOpen.decrement() }

    public static func connectionRefused(_ reason: ConnectionRefusal) {
        connectionsRefused[reason]?.increment()
    }

    private static let connectionsRefused: [ConnectionRefusal: Counter] = Dictionary(
        uniqueKeysWithValues: ConnectionRefusal.allCases.map {
            ($0, Counter(label: "kabar_connections_refused_total", dimensions: [("reason", $0.rawValue)]))
        }
    )

    /// How a request ended.
    enum Outcome: String, CaseIterable {
        case ok
        /// An `ERROR` reply the client caused (a refusal).
        case refused
        /// `server failure`: the store or another part failed.
        case failed
    }

    /// Whether requests are counted and timed: only once a metrics backend was
    /// bootstrapped (``startRecordingRequests()``), so that a server nobody scrapes reads
    /// no clock and touches no counter per request.
    private static let isRecordingRequests = Atomic(false)

    /// Turns on request counting and timing; call it after bootstrapping a backend.
    public static func startRecordingRequests() {
        isRecordingRequests.store(true, ordering: .relaxed)
    }

    /// When a request started, if requests are being recorded; pass it to
    /// ``requestAnswered(_:_:startedAt:)``.
    ///
    /// A `NIODeadline` (a monotonic clock's nanoseconds in a `UInt64`) rather than a
    /// `ContinuousClock.Instant`: the standard library may change that type's layout, so
    /// code outside it handles one, and an optional one above all, through its runtime
    /// metadata and value witnesses; that cost about 1% of the event loops' CPU per
    /// `ping` at P16 (BENCHMARKS.md, the sixteenth look).
    public static func requestStarted() -> NIODeadline? {
        isRecordingRequests.load(ordering: .relaxed) ? .now() : nil
    }

    /// Counts a request's reply and records how long it took to answer, if requests are
    /// being recorded (`start` is nil otherwise).
    public static func requestAnswered(_ command: Command, _ reply: Reply, startedAt start: NIODeadline?) {
        guard let start else { return }
        requestAnswered(command, reply, afterNanoseconds: (NIODeadline.now() - start).nanoseconds)
    }

    /// Counts a request that was answered at once (a line that is not a request).
    public static func requestAnswered(_ command: Command, _ reply: Reply) {
        guard isRecordingRequests.load(ordering: .relaxed) else { return }
        requestAnswered(command, reply, afterNanoseconds: 0)
    }

    private static func requestAnswered(_ command: Command, _ reply: Reply, afterNanoseconds duration: Int64) {
        let outcome: Outcome
        switch reply {
        case .refused(.serverFailure): outcome = .failed
        case .refused: outcome = .refused
        default: outcome = .ok
        }
        requests[command.rawValue * Outcome.allCases.count + outcome.index].increment()
        requestDurations[command.rawValue].recordNanoseconds(duration)
    }

    private static let requests: [Counter] = Command.allCases.flatMap { command in
        Outcome.allCases.map {
            Counter(label: "kabar_requests_total", dimensions: [("command", command.name), ("outcome", $0.rawValue)])
        }
    }

    private static let requestDurations: [Metrics.Timer] = Command.allCases.map {
        Metrics.Timer(label: "kabar_request_duration_seconds", dimensions: [("command", $0.name)], preferredDisplayUnit: .seconds)
    }

    private static let loginsFailed = Counter(label: "kabar_logins_failed_total")
    private static let loginsThrottled = Counter(label: "kabar_logins_throttled_total")
    private static let eventsPushed = Counter(label: "kabar_events_pushed_total")
    private static let subscribersCutOff = Counter(label: "kabar_subscribers_cut_off_total")

    public static func loginFailed() { loginsFailed.increment() }
    public static func loginThrottled() { loginsThrottled.increment() }
    public static func pushed(events count: Int) { eventsPushed.increment(by: count) }
    public static func subscriberCutOff() { subscribersCutOff.increment() }

    /// A request's command, as metrics name it (lines that are not requests are `invalid`).
    public enum Command: Int, CaseIterable, Sendable {
        case auth, send, inbox, show, logout, register, ping, subscribe, unsubscribe, ack, history, conversations, invalid

        public init(_ request: Request) {
            switch request {
            case .auth: self = .auth
            case .send: self = .send
            case .inbox: self = .inbox
            case .show: self = .show
            case .logout: self = .logout
            case .register: self = .register
            case .ping: self = .ping
            case .subscribe: self = .subscribe
            case .unsubscribe: self = .unsubscribe
            case .ack: self = .ack
            case .history: self = .history
            case .conversations: self = .conversations
            }
        }

        var name: String { "\(self)" }
    }
}

extension ServerMetrics.Outcome {
    /// Its place in ``allCases``, without a search on every request.
    var index: Int {
        switch self {
        case .ok: 0
        case .refused: 1
        case .failed: 2
        }
    }
}


/// Why a connection was refused.
public enum ConnectionRefusal: String, CaseIterable, Sendable {
    /// The server-wide connection limit.
    case serverFull = "server_full"
    /// The per-address limits (open at once, or new per minute).
    case addressLimit = "address_limit"
    /// The server is shutting down.
    case shuttingDown = "shutting_down"
}
