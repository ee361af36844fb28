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
        var hash: TokenHash
        var confirmedAt: Timestamp
    }

    private struct Entries {
        var byToken: [SessionToken: Entry] = [:]
        var byHash: [TokenHash: SessionToken] = [:]

        mutating func remove(_ token: SessionToken) {
            if let entry = byToken.removeValue(forKey: token) { byHash[entry.hash] = nil }
        }
    }

    private let entries = Locked(Entries())
    let freshness: Duration
    /// Past this many entries, stale ones are swept out.
    private static let sweepThreshold = 65_536

    init(freshness: Duration = .seconds(1)) {
        self.freshness = freshness
    }

    /// The session, if the store confirmed it less than `freshness` ago.
    func session(for token: SessionToken, at now: Timestamp) -> SessionRecord? {
        entries.withLock { entries in
            guard let entry = entries.byToken[token], now < entry.confirmedAt + freshness, now >= entry.confirmedAt else {
                return nil
            }
            return entry.session
        }
    }

    /// Records that the store confirmed `session`, known by `token` (whose hash is
    /// `hash`), at `now`.
    func remember(_ session: SessionRecord, for token: SessionToken, hash: TokenHash, at now: Timestamp) {
        entries.withLock { entries in
            entries.byToken[token] = Entry(session: session, hash: hash, confirmedAt: now)
            entries.byHash[hash] = token
            if entries.byToken.count > Self.sweepThreshold {
                let oldest = now - freshness
                for (token, entry) in entries.byToken where entry.confirmedAt <= oldest { entries.remove(token) }
            }
        }
    }

    /// Forgets a session that ended.
    func forget(_ token: SessionToken) {
        entries.withLock { $0.remove(token) }
    }

    /// Forgets a session that ended elsewhere, known here only by its hash.
    func forget(_ hash: TokenHash) {
        entries.withLock { entries in
            if let token = entries.byHash[hash] { entries.remove(token) }
        }
    }

    /// Forgets every session of a user.
    func forget(userID: Int64) {
        entries.withLock { entries in
            for (token, entry) in entries.byToken where entry.session.user.id == userID { entries.remove(token) }
        }
    }
}
