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
        let token = utf8.withContiguousStorageIfAvailable(Self.read) ?? Array(utf8).withUnsafeBufferPointer(Self.read)
        guard let token else { return nil }
        self = token
    }

    /// The token that `text`, 36 bytes, spells, read group by group: the dashes at their
    /// four places, then each group's hex digits as one number.
    private static func read(_ text: UnsafeBufferPointer<UInt8>) -> SessionToken? {
        let dash = UInt8(ascii: "-")
        guard text[8] == dash, text[13] == dash, text[18] == dash, text[23] == dash,
            let first = hexNumber(text, from: 0, count: 8),
            let second = hexNumber(text, from: 9, count: 4),
            let third = hexNumber(text, from: 14, count: 4),
            let fourth = hexNumber(text, from: 19, count: 4),
            let fifth = hexNumber(text, from: 24, count: 12)
        else { return nil }
        // The first 16 digits (8 + 4 + 4) are the high half, the last 16 (4 + 12) the low.
        return SessionToken(high: first << 32 | second << 16 | third, low: fourth << 48 | fifth)
    }

    /// The number that `count` hex digits from `start` spell; nil if a byte is no hex digit.
    private static func hexNumber(_ text: UnsafeBufferPointer<UInt8>, from start: Int, count: Int) -> UInt64? {
        var number: UInt64 = 0
        for offset in start..<(start + count) {
            guard let digit = hexValue(text[offset]) else { return nil }
            number = number << 4 | digit
        }
        return number
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
        let decimal = byte &- UInt8(ascii: "0")
        if decimal < 10 { return UInt64(decimal) }
        // Setting the 0x20 bit folds "A"..."F" to "a"..."f" and makes no other byte one.
        let letter = (byte | 0x20) &- UInt8(ascii: "a")
        if letter < 6 { return UInt64(letter + 10) }
        return nil
    }
}
