// MARK: - SessionToken

/// The session id that `auth` hands out: a random UUID v4 in its 36-character text form.
///
/// A token is a bearer secret, so `description` never shows it whole; use ``text`` where
/// the wire needs the real value. Hex digits are folded to lower case, so a client that
/// upper-cases the token still names the same session.
public struct SessionToken: Hashable, Sendable, CustomStringConvertible {
    /// The token as it travels on the wire (lower-case hex, 8-4-4-4-12).
    public let text: String

    /// Validates the UUID shape (8-4-4-4-12 hex digits); returns nil for anything else.
    public init?(_ candidate: some StringProtocol) {
        guard let text = Self.folded(candidate.utf8) else { return nil }
        self.text = text
    }

    /// Whether `utf8` is 8-4-4-4-12 hex digits (either case) separated by `-`: the shape
    /// that makes a word a token rather than a username.
    static func isTokenShaped(_ utf8: some Collection<UInt8>) -> Bool {
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                guard isHexDigit(byte) else { return false }
            }
        }
        return true
    }

    /// The token's text with hex digits in lower case, or nil if `utf8` is not UUID-shaped.
    private static func folded(_ utf8: some Collection<UInt8>) -> String? {
        guard isTokenShaped(utf8) else { return nil }
        return String(unsafeUninitializedCapacity: 36) { target in
            for (index, byte) in utf8.enumerated() {
                target[index] = (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) ? byte + 32 : byte
            }
            return 36
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// A redacted form that is safe for logs: the first eight characters only.
    public var redacted: String { "\(text.prefix(8))…" }

    public var description: String { "SessionToken(\(redacted))" }
}
