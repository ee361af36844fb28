// MARK: - MessageIDList

/// The id list of `ack`: positive decimal numbers joined by single commas, at most
/// ``maximumCount`` of them (PROTOCOL.md: no sign, fraction, `+`, empty item or other
/// characters).
enum MessageIDList {
    static let maximumCount = 1_000

    /// The ids, in the order given (duplicates kept); nil if the list is malformed.
    static func parse(_ text: String) -> [Int64]? {
        var ids: [Int64] = []
        for item in text.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            guard ids.count < maximumCount, let id = number(item) else { return nil }
            ids.append(id)
        }
        return ids.isEmpty ? nil : ids
    }

    /// One positive decimal number (ids, LIMIT, BEFORE_ID); nil for anything else.
    static func number(_ text: String) -> Int64? {
        number(Substring(text).utf8)
    }

    private static func number(_ digits: some Collection<UInt8>) -> Int64? {
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = Int64(String(decoding: digits, as: UTF8.self)), value > 0
        else { return nil }
        return value
    }
}
