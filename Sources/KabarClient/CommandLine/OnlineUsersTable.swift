import KabarProtocol

// MARK: - OnlineUsersTable

/// Lays out `show`'s rows exactly as the original client's pandas DataFrame printed them.
///
/// PROTOCOL.md, "What the client prints": a left-aligned row-number column (blank
/// header) as wide as its longest number; then each column right-aligned to
/// `max(header length, longest cell + 1)`; columns joined by one space; widths in
/// Unicode code points. Unlike pandas, long tables are never truncated or wrapped.
///
///         username              name     negara
///     0      messi      Lionel Messi  Argentina
///     1  henderson  Jordan Henderson    Inggris
public enum OnlineUsersTable {
    static let headers = ["username", "name", "negara"]

    /// The table's lines joined by `\n`, without a trailing newline.
    public static func render(_ users: [OnlineUser]) -> String {
        guard !users.isEmpty else { return "Empty DataFrame\nColumns: []\nIndex: []" }
        let rows = users.map { [$0.username, $0.name, $0.country] }
        let indexWidth = String(users.count - 1).unicodeScalars.count
        let widths = headers.indices.map { column in
            max(width(headers[column]), (rows.map { width($0[column]) }.max() ?? 0) + 1)
        }
        var lines = [line(index: "", indexWidth: indexWidth, cells: headers, widths: widths)]
        for (number, row) in rows.enumerated() {
            lines.append(line(index: String(number), indexWidth: indexWidth, cells: row, widths: widths))
        }
        return lines.joined(separator: "\n")
    }

    private static func line(index: String, indexWidth: Int, cells: [String], widths: [Int]) -> String {
        let indexCell = index + String(repeating: " ", count: indexWidth - width(index))
        let columns = zip(cells, widths).map { cell, width in
            String(repeating: " ", count: width - Self.width(cell)) + cell
        }
        return ([indexCell] + columns).joined(separator: " ")
    }

    private static func width(_ text: String) -> Int {
        text.unicodeScalars.count
    }
}
