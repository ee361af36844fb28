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

    /// Whether `word` has the exact UUID shape that makes it a token rather than a username.
    public static func hasTokenShape(_ word: some StringProtocol) -> Bool {
        folded(word.utf8) != nil
    }

    /// The token's text with hex digits in lower case, or nil if `utf8` is not UUID-shaped.
    static func folded(_ utf8: some Collection<UInt8>) -> String? {
        guard utf8.count == 36 else { return nil }
        var isTokenShaped = true
        let text = String(unsafeUninitializedCapacity: 36) { target in
            for (index, byte) in utf8.enumerated() {
                switch (index, byte) {
                case (8, UInt8(ascii: "-")), (13, UInt8(ascii: "-")), (18, UInt8(ascii: "-")), (23, UInt8(ascii: "-")):
                    target[index] = byte
                case (8, _), (13, _), (18, _), (23, _):
                    isTokenShaped = false
                case (_, UInt8(ascii: "0")...UInt8(ascii: "9")), (_, UInt8(ascii: "a")...UInt8(ascii: "f")):
                    target[index] = byte
                case (_, UInt8(ascii: "A")...UInt8(ascii: "F")):
                    target[index] = byte + 32
                default:
                    isTokenShaped = false
                }
                if !isTokenShaped { return 0 }
            }
            return 36
        }
        return isTokenShaped ? text : nil
    }

    /// A redacted form that is safe for logs: the first eight characters only.
    public var redacted: String { "\(text.prefix(8))…" }

    public var description: String { "SessionToken(\(redacted))" }
}
