import KabarCore

// MARK: - AdmissionControl

/// Decides whether a new connection may stay: the server-wide connection limit and the
/// per-address limits of PROTOCOL.md ("Limits and bad input").
///
/// Loopback (127.0.0.1 and ::1 exactly) skips the per-address limits when configured;
/// other addresses in 127.0.0.0/8 do not.
///
/// One instance serves every front end of a server (TCP, TLS, WebSocket), so that the
/// limits count a client's connections of all kinds together.
public final class AdmissionControl: Sendable {
    public enum Decision: Equatable, Sendable {
        case admitted
        case refused(ConnectionRefusal)
    }

    public struct Limits: Sendable {
        public var maximumConnections: Int
        public var maximumPerAddress: Int
        public var maximumNewPerMinute: Int
        public var exemptsLoopback: Bool

        public init(maximumConnections: Int, maximumPerAddress: Int, maximumNewPerMinute: Int, exemptsLoopback: Bool) {
            self.maximumConnections = maximumConnections
            self.maximumPerAddress = maximumPerAddress
            self.maximumNewPerMinute = maximumNewPerMinute
            self.exemptsLoopback = exemptsLoopback
        }
    }

    private struct AddressRecord {
        var open = 0
        /// Times of recent admissions, for the per-minute limit.
        var recentAdmissions: [Timestamp] = []
    }

    private struct State {
        var open = 0
        var addresses: [String: AddressRecord] = [:]
    }

    private let limits: Limits
    private let clock: any WallClock
    private let state = Locked(State())

    public init(limits: Limits, clock: any WallClock = SystemWallClock()) {
        self.limits = limits
        self.clock = clock
    }

    /// Counts a new connection from `address` if it is allowed. Each `.admitted` must be
    /// paired with one ``release(_:)``.
    public func admit(_ address: String) -> Decision {
        let now = clock.now()
        let exempt = limits.exemptsLoopback && (address == "127.0.0.1" || address == "::1")
        return state.withLock { state in
            guard state.open < limits.maximumConnections else { return .refused(.serverFull) }
            if !exempt {
                var record = state.addresses[address, default: AddressRecord()]
                let minuteAgo = now - .seconds(60)
                record.recentAdmissions.removeAll(where: { $0 <= minuteAgo })
                guard record.open < limits.maximumPerAddress,
                    record.recentAdmissions.count < limits.maximumNewPerMinute
                else {
                    state.addresses[address] = record
                    return .refused(.addressLimit)
                }
                record.open += 1
                record.recentAdmissions.append(now)
                state.addresses[address] = record
            }
            state.open += 1
            return .admitted
        }
    }

    /// Forgets an admitted connection that closed.
    public func release(_ address: String) {
        let minuteAgo = clock.now() - .seconds(60)
        state.withLock { state in
            state.open -= 1
            guard var record = state.addresses[address] else { return }
            record.open -= 1
            record.recentAdmissions.removeAll(where: { $0 <= minuteAgo })
            state.addresses[address] = record.open == 0 && record.recentAdmissions.isEmpty ? nil : record
        }
    }

    /// Connections open now.
    var openConnections: Int { state.withLock { $0.open } }
}
