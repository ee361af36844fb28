import Foundation
@testable import KabarSQLite
import KabarTestSupport
import Testing

/// How a connection binds a statement's parameters: from an array of values, or one by one
/// (the way the `INSERT` of every stored message binds them), with the same result.
@Suite("SQLite statement parameters")
final class StatementParametersTests {
    let directory: String
    let connection: SQLiteConnection

    init() throws {
        directory = try makeTemporaryDirectory()
        connection = try SQLiteConnection(path: directory + "/kabar.sqlite")
        try connection.execute("CREATE TABLE t (n INTEGER, s TEXT, b BLOB)")
    }

    deinit {
        connection.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let texts = ["", "short", "longer than fifteen bytes, so kept on the heap", "Jürgen Klopp, Anfield 🏟️"]

    @Test("values bound one by one are stored exactly as the same values bound from an array")
    func oneByOneAsArray() throws {
        for (number, text) in Self.texts.enumerated() {
            try connection.execute("INSERT INTO t (n, s) VALUES (?, ?)", [.integer(Int64(number)), .text(text)])
            try connection.execute("INSERT INTO t (n, s) VALUES (?, ?)") { parameters throws(SQLiteError) in
                try parameters.bind(Int64(number) + 100)
                try parameters.bind(text)
            }
        }
        let rows = try connection.query("SELECT n, s, typeof(s) FROM t ORDER BY n")
        let fromArray = rows.prefix(Self.texts.count)
        let oneByOne = rows.suffix(Self.texts.count)
        #expect(fromArray.map { $0.text(1) } == Self.texts)
        #expect(oneByOne.map { $0.text(1) } == Self.texts)
        #expect(oneByOne.map { $0.integer(0) } == (100..<(100 + Int64(Self.texts.count))).map { $0 })
        #expect(rows.allSatisfy { $0.text(2) == "text" }, "an empty text is text, not NULL")
    }

    @Test("blobs and NULL from an array; one value too many fails, and the statement runs again after")
    func blobsNullsAndTooMany() throws {
        try connection.execute("INSERT INTO t (n, s, b) VALUES (?, ?, ?)", [.integer(1), .null, .blob([0, 1, 255])])
        #expect(throws: SQLiteError.self) {
            try connection.execute("INSERT INTO t (n, s, b) VALUES (?, ?, ?)") { parameters throws(SQLiteError) in
                for value in [Int64(2), 3, 4, 5] { try parameters.bind(value) }
            }
        }
        // Nothing of the failed one is left bound: unbound parameters are NULL.
        try connection.execute("INSERT INTO t (n, s, b) VALUES (?, ?, ?)") { parameters throws(SQLiteError) in
            try parameters.bind(Int64(3))
        }
        let rows = try connection.query("SELECT n, s, b FROM t ORDER BY n")
        #expect(rows.map(\.values) == [[.integer(1), .null, .blob([0, 1, 255])], [.integer(3), .null, .null]])
    }
}
