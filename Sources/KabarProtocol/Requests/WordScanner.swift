// MARK: - WordScanner

/// Splits a request line into words separated by spaces or tabs, remembering where it
/// is so that `send` can take "the rest of the line" with its inner spacing intact.
///
/// It walks the line's UTF-8 bytes. The separators (space, tab, `"`) are ASCII, and no
/// byte of a multi-byte UTF-8 sequence is ASCII, so every cut falls between two Unicode
/// scalars: a combining mark after a space cannot hide the space, as it could from a
/// walk over Characters.
struct WordScanner {
    typealias Word = Slice<UnsafeBufferPointer<UInt8>>

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position: Int

    /// Scans `bytes`, which must be valid UTF-8 and outlive the scanner.
    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    /// The next word, or nil at the end of the line.
    mutating func nextWord() -> Word? {
        skipWhitespace()
        guard position < bytes.endIndex else { return nil }
        let start = position
        while position < bytes.endIndex, !Self.isWhitespace(bytes[position]) {
            position += 1
        }
        return bytes[start..<position]
    }

    /// The next word, where a word opening with `"` runs to the next `"` and may hold
    /// spaces (`"Lionel Messi"`). The quotes are not part of the result. An unclosed
    /// quote, or a closing quote followed by something other than whitespace, is nil.
    mutating func nextQuotableWord() -> Word? {
        skipWhitespace()
        guard position < bytes.endIndex else { return nil }
        guard bytes[position] == Self.quote else { return nextWord() }
        let contentStart = position + 1
        guard let closing = bytes[contentStart...].firstIndex(of: Self.quote) else { return nil }
        position = closing + 1
        if position < bytes.endIndex, !Self.isWhitespace(bytes[position]) { return nil }
        return bytes[contentStart..<closing]
    }

    /// Everything after the current position, trimmed of leading and trailing whitespace.
    mutating func rest() -> Word {
        skipWhitespace()
        var end = bytes.endIndex
        while end > position, Self.isWhitespace(bytes[end - 1]) {
            end -= 1
        }
        defer { position = bytes.endIndex }
        return bytes[position..<end]
    }

    private mutating func skipWhitespace() {
        while position < bytes.endIndex, Self.isWhitespace(bytes[position]) {
            position += 1
        }
    }

    private static let quote = UInt8(ascii: "\"")

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}

// MARK: - Words as text

extension Slice<UnsafeBufferPointer<UInt8>> {
    /// The word as a string (the bytes are valid UTF-8: the scanner cuts between scalars).
    var text: String {
        String(decoding: UnsafeBufferPointer(rebasing: self), as: UTF8.self)
    }

    /// The word folded to lower case, as `text.lowercased()` gives it: ASCII letters are
    /// folded byte by byte; a word with any other scalar goes through full Unicode folding.
    var lowercasedText: String {
        guard allSatisfy({ $0 < 0x80 }) else { return text.lowercased() }
        return String(unsafeUninitializedCapacity: count) { target in
            for (offset, byte) in enumerated() {
                target[offset] = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
            }
            return count
        }
    }
}
