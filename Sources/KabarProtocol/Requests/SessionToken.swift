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
        let utf8 = Array(candidate.utf8)
        guard utf8.count == 36 else { return nil }
        var folded = [UInt8]()
        folded.reserveCapacity(36)
        for (index, byte) in utf8.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                folded.append(byte)
            } else {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"):
                    folded.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "F"):
                    folded.append(byte + 32)
                default:
                    return nil
                }
            }
        }
        self.text = String(decoding: folded, as: UTF8.self)
    }

    /// Whether `word` has the exact UUID shape that makes it a token rather than a username.
    public static func hasTokenShape(_ word: some StringProtocol) -> Bool {
        SessionToken(word) != nil
    }

    /// A redacted form that is safe for logs: the first eight characters only.
    public var redacted: String { "\(text.prefix(8))…" }

    public var description: String { "SessionToken(\(redacted))" }
}
