import KabarProtocol

// MARK: - DemoUsers

/// The three users of the seed document, for `kabar-server --demo`.
public enum DemoUsers {
    public static let password = "surabaya"

    public static let all: [(username: Username, profile: Profile)] = [
        (Username("messi")!, Profile(name: "Lionel Messi", country: "Argentina")!),
        (Username("henderson")!, Profile(name: "Jordan Henderson", country: "Inggris")!),
        (Username("lineker")!, Profile(name: "Gary Lineker", country: "Inggris")!),
    ]

    /// Creates each demo user that does not exist yet; existing accounts are left alone.
    /// - Returns: the usernames that were created.
    @discardableResult
    public static func ensureExist(in service: ChatService) async throws -> [Username] {
        var created: [Username] = []
        for (username, profile) in all where try await service.store.user(named: username) == nil {
            do {
                try await service.createUser(username, password: password, profile: profile)
                created.append(username)
            } catch Refusal.userExists {
                continue
            }
        }
        return created
    }
}
