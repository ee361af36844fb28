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
            guard ids.count < maximumCount, !item.isEmpty, item.count <= 19,
                item.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let id = Int64(String(decoding: item, as: UTF8.self)), id > 0
            else { return nil }
            ids.append(id)
        }
        return ids.isEmpty ? nil : ids
    }
}
