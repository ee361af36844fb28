// MARK: - Username

/// A valid username: `[a-z0-9][a-z0-9_.-]{0,31}` after folding to lower case.
///
/// Usernames are case-insensitive everywhere, so the initializer folds first:
/// `Username("Messi") == Username("messi")`. No username can have the 36-character
/// UUID shape of a session token.
public struct Username: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The folded name, as stored and as sent on the wire.
    public let text: String

    public static let maximumLength = 32

    /// Folds `candidate` to lower case and validates it; nil if it is not a valid name.
    public init?(_ candidate: some StringProtocol) {
        // A name's characters are all lower-case ASCII: one that is already folded, as the
        // request parser folds recipients, is checked once and not folded again.
        var folded = String(candidate)
        if !folded.utf8.allSatisfy(Self.isAllowed) {
            folded = folded.lowercased()
            guard folded.utf8.allSatisfy(Self.isAllowed) else { return nil }
        }
        guard (1...Self.maximumLength).contains(folded.utf8.count), let first = folded.utf8.first, Self.isLeading(first) else {
            return nil
        }
        self.text = folded
    }

    public var description: String { text }

    public static func < (lhs: Username, rhs: Username) -> Bool { lhs.text < rhs.text }

    private static func isLeading(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        isLeading(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }
}
