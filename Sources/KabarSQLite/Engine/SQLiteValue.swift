// MARK: - SQLiteValue

/// A value bound to, or read from, a SQLite statement.
enum SQLiteValue: Hashable, Sendable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// One result row.
struct SQLiteRow: Sendable {
    var values: [SQLiteValue]

    func integer(_ column: Int) -> Int64? {
        guard case .integer(let value) = values[column] else { return nil }
        return value
    }

    func text(_ column: Int) -> String? {
        guard case .text(let value) = values[column] else { return nil }
        return value
    }

    func blob(_ column: Int) -> [UInt8]? {
        guard case .blob(let value) = values[column] else { return nil }
        return value
    }
}

/// A failure reported by SQLite.
public struct SQLiteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The extended result code.
    public var code: Int32
    public var message: String

    public var description: String { "SQLite error \(code): \(message)" }
}
