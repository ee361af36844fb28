// MARK: - Password

/// A password acceptable for a new account: 8 to 256 bytes of UTF-8, no whitespace.
///
/// Its `description` and `Mirror` never show the secret.
public struct Password: Sendable, CustomStringConvertible, CustomReflectable {
    public let text: String

    public static let allowedLength = 8...256

    public init?(_ candidate: String) {
        guard Self.allowedLength.contains(candidate.utf8.count),
            !candidate.unicodeScalars.contains(where: { $0.properties.isWhitespace })
        else { return nil }
        self.text = candidate
    }

    public var description: String { "Password(redacted)" }

    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
