import KabarProtocol

// MARK: - SessionCache

/// Sessions the store confirmed a moment ago, so that the requests of a busy connection
/// do not each cost a session query.
///
/// An entry is trusted for `freshness` (one second by default) and then checked against
/// the store again, which also keeps the session's last-used time current. This process
/// forgets a session the moment it ends it (logout); a session ended by someone else
/// (another process removing the user, another node) is refused within `freshness`.
final class SessionCache: Sendable {
    private struct Entry {
        var session: SessionRecord
        var confirmedAt: Timestamp
    }

    private let entries = Locked<[SessionToken: Entry]>([:])
    let freshness: Duration
    /// Past this many entries, stale ones are swept out.
    private static let sweepThreshold = 65_536

    init(freshness: Duration = .seconds(1)) {
        self.freshness = freshness
    }

    /// The session, if the store confirmed it less than `freshness` ago.
    func session(for token: SessionToken, at now: Timestamp) -> SessionRecord? {
        entries.withLock { entries in
            guard let entry = entries[token], now < entry.confirmedAt + freshness, now >= entry.confirmedAt else {
                return nil
            }
            return entry.session
        }
    }

    /// Records that the store confirmed `session` at `now`.
    func remember(_ session: SessionRecord, for token: SessionToken, at now: Timestamp) {
        entries.withLock { entries in
            entries[token] = Entry(session: session, confirmedAt: now)
            if entries.count > Self.sweepThreshold {
                let oldest = now - freshness
                entries = entries.filter { $0.value.confirmedAt > oldest }
            }
        }
    }

    /// Forgets a session that ended.
    func forget(_ token: SessionToken) {
        _ = entries.withLock { $0.removeValue(forKey: token) }
    }
}
