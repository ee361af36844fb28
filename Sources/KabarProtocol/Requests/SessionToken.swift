// MARK: - SessionToken

/// The session id that `auth` hands out: a random UUID v4 in its 36-character text form.
///
/// A token is a bearer secret, so `description` never shows it whole; use ``text`` where
/// the wire needs the real value. Hex digits are folded to lower case, so a client that
/// upper-cases the token still names the same session.
///
/// It is kept as the 128-bit number its 32 hex digits spell: every request names its
/// session by token, and a number is read from the line without a string to allocate, and
/// compared and hashed in two words.
public struct SessionToken: Hashable, Sendable, CustomStringConvertible {
    /// The first 16 hex digits, the first one in the top four bits.
    private let high: UInt64
    /// The last 16 hex digits.
    private let low: UInt64

    /// The token with these 128 bits (the first hex digit in the top four bits of `high`).
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Validates the UUID shape (8-4-4-4-12 hex digits); returns nil for anything else.
    public init?(_ candidate: some StringProtocol) {
        self.init(utf8: candidate.utf8)
    }

    /// Reads the UUID shape (8-4-4-4-12 hex digits of either case, separated by `-`) from
    /// a word's bytes, the shape that makes a word a token rather than a username; nil for
    /// anything else.
    public init?(utf8: some Collection<UInt8>) {
        guard utf8.count == Self.textLength else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var offset = 0
        for byte in utf8 {
            defer { offset += 1 }
            if Self.isDashOffset(offset) {
                guard byte == UInt8(ascii: "-") else { return nil }
            } else {
                guard let digit = Self.hexValue(byte) else { return nil }
                // The first 16 digits end before the dash at offset 18.
                if offset < 18 {
                    high = high << 4 | digit
                } else {
                    low = low << 4 | digit
                }
            }
        }
        self.init(high: high, low: low)
    }

    /// The token as it travels on the wire (lower-case hex, 8-4-4-4-12).
    public var text: String {
        String(unsafeUninitializedCapacity: Self.textLength) { target in
            var digits = 0
            for offset in 0..<Self.textLength {
                if Self.isDashOffset(offset) {
                    target[offset] = UInt8(ascii: "-")
                    continue
                }
                let half = digits < 16 ? high : low
                let nibble = Int(truncatingIfNeeded: half >> (60 - 4 * UInt64(digits % 16))) & 0xF
                target[offset] = Self.hexDigits[nibble]
                digits += 1
            }
            return Self.textLength
        }
    }

    /// A redacted form that is safe for logs: the first eight characters only.
    public var redacted: String { "\(text.prefix(8))…" }

    public var description: String { "SessionToken(\(redacted))" }

    private static let textLength = 36
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func isDashOffset(_ offset: Int) -> Bool {
        offset == 8 || offset == 13 || offset == 18 || offset == 23
    }

    private static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt64(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
