// MARK: - AuthThrottle

/// Failed-`auth` throttling, as a value: events in, decisions out.
///
/// PROTOCOL.md, "Limits and bad input": 10 failed `auth` for one username within
/// 5 minutes, or 50 from one client address, and every `auth` of that username (or from
/// that address) is refused with `Terlalu Banyak Percobaan` for 60 seconds, right
/// password or not. Both failure kinds count; refused attempts neither count nor extend
/// the block; a successful `auth` clears the username's failures. Keys are usernames and
/// addresses, never connections, so reconnecting does not help an attacker.
public struct AuthThrottle: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var failuresPerUsername: Int
        public var failuresPerAddress: Int
        public var window: Duration
        public var blockDuration: Duration

        public init(failuresPerUsername: Int, failuresPerAddress: Int, window: Duration, blockDuration: Duration) {
            self.failuresPerUsername = failuresPerUsername
            self.failuresPerAddress = failuresPerAddress
            self.window = window
            self.blockDuration = blockDuration
        }

        public static let standard = Configuration(
            failuresPerUsername: 10,
            failuresPerAddress: 50,
            window: .seconds(300),
            blockDuration: .seconds(60)
        )
    }

    /// Recent failures of one key, and the end of its block if it is blocked.
    private struct Record {
        var failures: [Timestamp] = []
        var blockedUntil: Timestamp?
    }

    public let configuration: Configuration
    private var usernames: [String: Record] = [:]
    private var addresses: [String: Record] = [:]
    /// Past this many keys, records with nothing recent in them are swept out.
    private static let sweepThreshold = 10_000

    public init(configuration: Configuration = .standard) {
        self.configuration = configuration
    }

    /// Whether an `auth` for `username` from `address` must be refused now.
    public func isBlocked(username: String, address: String, at now: Timestamp) -> Bool {
        Self.isBlocked(usernames[username], at: now) || Self.isBlocked(addresses[address], at: now)
    }

    /// Counts a failed `auth` (unknown user or wrong password).
    public mutating func recordFailure(username: String, address: String, at now: Timestamp) {
        Self.record(failureAt: now, in: &usernames[username, default: Record()], limit: configuration.failuresPerUsername, configuration)
        Self.record(failureAt: now, in: &addresses[address, default: Record()], limit: configuration.failuresPerAddress, configuration)
        if usernames.count + addresses.count > Self.sweepThreshold { sweep(at: now) }
    }

    /// Clears the username's failures after a successful `auth`.
    public mutating func recordSuccess(username: String) {
        usernames[username] = nil
    }

    // MARK: - Internals

    private static func isBlocked(_ record: Record?, at now: Timestamp) -> Bool {
        guard let blockedUntil = record?.blockedUntil else { return false }
        return now < blockedUntil
    }

    private static func record(failureAt now: Timestamp, in record: inout Record, limit: Int, _ configuration: Configuration) {
        let windowStart = now - configuration.window
        record.failures.removeAll(where: { $0 <= windowStart })
        record.failures.append(now)
        if record.failures.count > limit { record.failures.removeFirst(record.failures.count - limit) }
        if record.failures.count >= limit { record.blockedUntil = now + configuration.blockDuration }
    }

    private mutating func sweep(at now: Timestamp) {
        let windowStart = now - configuration.window
        let isStale: (Record) -> Bool = { record in
            !Self.isBlocked(record, at: now) && (record.failures.last.map { $0 <= windowStart } ?? true)
        }
        usernames = usernames.filter { !isStale($0.value) }
        addresses = addresses.filter { !isStale($0.value) }
    }
}
