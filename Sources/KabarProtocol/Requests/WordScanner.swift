// MARK: - WordScanner

/// Splits a request line into words separated by spaces or tabs, remembering where it
/// is so that `send` can take "the rest of the line" with its inner spacing intact.
///
/// It walks Unicode scalars rather than Characters, so a combining mark after a space
/// cannot hide the space from it.
struct WordScanner {
    private let scalars: Substring.UnicodeScalarView
    private var position: Substring.UnicodeScalarView.Index

    init(_ line: String) {
        self.scalars = Substring(line).unicodeScalars
        self.position = scalars.startIndex
    }

    /// The next word, or nil at the end of the line.
    mutating func nextWord() -> Substring? {
        skipWhitespace()
        guard position < scalars.endIndex else { return nil }
        let start = position
        while position < scalars.endIndex, !Self.isWhitespace(scalars[position]) {
            scalars.formIndex(after: &position)
        }
        return Substring(scalars[start..<position])
    }

    /// The next word, where a word opening with `"` runs to the next `"` and may hold
    /// spaces (`"Lionel Messi"`). The quotes are not part of the result. An unclosed
    /// quote, or a closing quote followed by something other than whitespace, is nil.
    mutating func nextQuotableWord() -> String? {
        skipWhitespace()
        guard position < scalars.endIndex else { return nil }
        guard scalars[position] == "\"" else { return nextWord().map(String.init) }
        let contentStart = scalars.index(after: position)
        guard let closing = scalars[contentStart...].firstIndex(of: "\"") else { return nil }
        position = scalars.index(after: closing)
        if position < scalars.endIndex, !Self.isWhitespace(scalars[position]) { return nil }
        return String(Substring(scalars[contentStart..<closing]))
    }

    /// Everything after the current position, trimmed of leading and trailing whitespace.
    mutating func rest() -> Substring {
        skipWhitespace()
        var end = scalars.endIndex
        while end > position {
            let before = scalars.index(before: end)
            guard Self.isWhitespace(scalars[before]) else { break }
            end = before
        }
        defer { position = scalars.endIndex }
        return Substring(scalars[position..<end])
    }

    private mutating func skipWhitespace() {
        while position < scalars.endIndex, Self.isWhitespace(scalars[position]) {
            scalars.formIndex(after: &position)
        }
    }

    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t"
    }
}
