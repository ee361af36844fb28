// MARK: - SessionRecord

/// A live session and the user it belongs to.
public struct SessionRecord: Hashable, Sendable {
    public var id: Int64
    public var user: UserRecord

    public init(id: Int64, user: UserRecord) {
        self.id = id
        self.user = user
    }
}
