// MARK: - SessionRecord

/// A live session and the user it belongs to.
///
/// A class, and immutable: every request of a busy connection takes its session from
/// memory (``SessionCache``) and carries it to the store with the request, and a copy of a
/// struct holding the user's four strings was a retain and a release of each.
public final class SessionRecord: Hashable, Sendable {
    public let id: Int64
    public let user: UserRecord

    public init(id: Int64, user: UserRecord) {
        self.id = id
        self.user = user
    }

    /// Equal when they hold the same session of the same user, as values.
    public static func == (lhs: SessionRecord, rhs: SessionRecord) -> Bool {
        lhs.id == rhs.id && lhs.user == rhs.user
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(user)
    }
}
