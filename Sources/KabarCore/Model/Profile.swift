// MARK: - Profile

/// A user's display name and country, as `show` lists them (`name`, `negara`).
///
/// Both are 1 to 64 characters with no control characters, so the client's table and
/// the JSON stay one line per user.
public struct Profile: Hashable, Sendable {
    public let name: String
    public let country: String

    public static let maximumLength = 64

    public init?(name: String, country: String) {
        guard Self.isValid(name), Self.isValid(country) else { return nil }
        self.name = name
        self.country = country
    }

    private static func isValid(_ text: String) -> Bool {
        let scalars = text.unicodeScalars
        return (1...maximumLength).contains(scalars.count)
            && !scalars.contains(where: { $0.properties.generalCategory == .control })
            && !text.allSatisfy(\.isWhitespace)
    }
}
