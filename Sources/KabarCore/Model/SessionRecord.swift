// MARK: - SessionRecord

/// A live session and the user it belongs to.
///
/// A class, and immutable: every request of a busy connection takes its session from
/// memory (``SessionCache``) and carries it to the store with the request, and a copy of a
/// struct holding the user's four strings was a retain and a release of each.
public final class SessionRecord: Sendable {
    public let id: Int64
    public let user: UserRecord

    public init(id: Int64, user: UserRecord) {
        self.id = id
        self.user = user
    }
}
