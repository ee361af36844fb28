import KabarClient

// MARK: - BenchConfiguration

/// What `kabar-bench` runs.
public struct BenchConfiguration: Sendable {
    /// The request mix.
    public enum Operation: String, Sendable, CaseIterable {
        /// `send` to the next bench user (or `recipients` of them).
        case send
        /// `inbox`.
        case inbox
        /// Nine `send` to one `inbox`, per connection.
        case mix
        /// `auth` (each one is a full scrypt check on the server).
        case auth
        case ping
        case show
        /// Live delivery: the first half of the connections `send` to the users of the
        /// second half, which `subscribe`; each message carries its send time, and the
        /// subscribers time its event.
        case push
    }

    /// When the run ends.
    public enum Limit: Sendable, Equatable {
        case requests(Int)
        case duration(Duration)
    }

    public var host: String = "127.0.0.1"
    public var port: Int = 8889
    public var tls: ClientTLS?
    public var connections: Int = 50
    public var limit: Limit = .requests(100_000)
    public var pipeline: Int = 1
    public var operation: Operation = .send
    /// Message size in bytes for `send`.
    public var messageSize: Int = 32
    /// Recipients per `send`.
    public var recipients: Int = 1
    /// Bench users `bench-0` … `bench-(users-1)`, registered when missing.
    public var users: Int = 50
    /// `--op push`: how many of the connections subscribe (nil: half of them).
    public var subscribers: Int?
    /// Load before measuring starts.
    public var warmup: Duration = .zero
    /// Threads of the load generator, each driving a share of the connections.
    public var threads: Int = 1
    public static let password = "bench-password"

    public init() {}

    static func username(_ index: Int) -> String { "bench-\(index)" }

    /// `--op push`: how many connections send (the rest subscribe).
    static func pushSenders(_ configuration: BenchConfiguration) -> Int {
        max(1, configuration.connections - (configuration.subscribers ?? configuration.connections / 2))
    }

    /// `--op push`: how many users the subscribers log in as (and the senders write to):
    /// the first half of the bench users at most, so that the senders are other users and
    /// their messages make no `sent` events.
    static func pushUsers(_ configuration: BenchConfiguration) -> Int {
        max(1, min(max(1, configuration.users / 2), configuration.connections - pushSenders(configuration)))
    }

    /// `--op push`: the bench user a sending connection logs in as.
    static func pushSenderUser(_ configuration: BenchConfiguration, connectionIndex: Int) -> Int {
        let subscribed = pushUsers(configuration)
        let others = configuration.users - subscribed
        return others > 0 ? subscribed + connectionIndex % others : connectionIndex % max(1, configuration.users)
    }
}
