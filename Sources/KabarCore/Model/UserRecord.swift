// MARK: - UserRecord

/// A stored user.
public struct UserRecord: Hashable, Sendable {
    /// The store's key for the user; never reused for another account.
    public var id: Int64
    public var username: Username
    public var profile: Profile
    /// The encoded scrypt hash (see ``ScryptPasswordHasher``).
    public var passwordHash: String

    public init(id: Int64, username: Username, profile: Profile, passwordHash: String) {
        self.id = id
        self.username = username
        self.profile = profile
        self.passwordHash = passwordHash
    }
}

/// A user about to be stored.
public struct NewUser: Hashable, Sendable {
    public var username: Username
    public var profile: Profile
    public var passwordHash: String

    public init(username: Username, profile: Profile, passwordHash: String) {
        self.username = username
        self.profile = profile
        self.passwordHash = passwordHash
    }
}
