import CKabarSQLite
import Foundation
import KabarCore
import VaporCSQLite

// MARK: - SQLiteConnection

/// One SQLite connection, used from one thread at a time (the database's worker thread).
///
/// SQLite comes from sqlite-nio's vendored amalgamation (its `VaporCSQLite` module,
/// whose symbols carry a `sqlite_nio_` prefix), so Kabar needs no system SQLite. Kabar
/// talks to it directly rather than through `SQLiteNIO.SQLiteConnection` to keep
/// prepared statements across calls and to commit many callers' work in one
/// transaction (see ``SQLiteDatabase``).
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// The statement ``preparedStatement(_:)`` gave last, one of `statements`.
    private var lastStatement: (sql: String, statement: OpaquePointer)?
    /// While a unit of work limited to one change runs: how far it got.
    private var oneChangeUnit: OneChangeProgress?
    /// What units of the open transaction left for later (``deferUntilRead(_:_:)``).
    var deferred = DeferredStatements()

    /// Opens (creating if needed) the database at `path`.
    ///
    /// - Parameter vfs: the name of the SQLite VFS to open it through; nil for the
    ///   system's (tests put a simulated disk there). It is wrapped in the VFS of
    ///   `kabar_sqlite_coalescing_vfs`, which writes a commit's log frames in one write.
    init(path: String, vfs: String? = nil) throws(SQLiteError) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = Self.opens.withLock { opens in
            opens += 1
            // Through a VFS that gathers the log's writes into one per commit (a commit's
            // pages are otherwise two writes each); through `vfs` itself should that fail.
            if let coalescing = kabar_sqlite_coalescing_vfs(vfs) {
                return sqlite_nio_sqlite3_open_v2(path, &handle, flags, coalescing)
            }
            return sqlite_nio_sqlite3_open_v2(path, &handle, flags, vfs)
        }
        guard code == SQLITE_OK else {
            let error = SQLiteError(code: code, message: handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "open failed")
            sqlite_nio_sqlite3_close_v2(handle)
            throw error
        }
        sqlite_nio_sqlite3_extended_result_codes(handle, 1)
        sqlite_nio_sqlite3_busy_handler(handle, retryWhileLocked, nil)
        // Plans that do not depend on bound values, so that a cached statement is never
        // prepared again for a new value (see ``repreparations``). Kabar's queries name
        // the index they need where the planner would not find it alone. Should it fail,
        // only the re-preparations come back.
        _ = kabar_sqlite_keep_plans(handle)
    }

    deinit {
        close()
    }

    /// Held while a connection opens, so that this process opens one at a time. SQLite
    /// initialises itself on the first open and resets its random generator on an open
    /// after a fork, each checking a plain variable first ("multiple resets are harmless",
    /// says its source); opens that race there are harmless to SQLite but real races to
    /// the thread sanitizer. An open takes microseconds and happens once per store. (The
    /// lock guards a count of opens: a lock needs a value, and an empty one confuses the
    /// sanitizer, which then sees it share an address with the lock itself.)
    private static let opens = Locked(0)

    /// Finalizes every statement and closes the connection.
    func close() {
        for statement in statements.values { sqlite_nio_sqlite3_finalize(statement) }
        statements.removeAll()
        lastStatement = nil
        if let handle { sqlite_nio_sqlite3_close_v2(handle) }
        handle = nil
        logFrameCount?.deallocate()
        logFrameCount = nil
    }

    // MARK: - Running SQL

    /// Runs one or more statements with no parameters and no results (schema, pragmas).
    func executeScript(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite_nio_sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite_nio_sqlite3_free(message) }
        guard code == SQLITE_OK else {
            throw SQLiteError(code: code, message: message.map { String(cString: $0) } ?? "exec failed")
        }
    }

    /// Runs a statement, discarding any rows. - Returns: the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> Int {
        try execute(sql) { parameters throws(SQLiteError) in try parameters.bind(contentsOf: bindings) }
    }

    /// Runs a statement, discarding any rows, its parameters bound in order by `bindValues`.
    /// A statement run for every stored message binds its values this way rather than from
    /// an array, which cost it an allocation and a retain and a release of each text (about
    /// 2% of the store thread's time at `send` c50 P16). - Returns: the number of rows it
    /// changed.
    @discardableResult
    func execute(_ sql: String, binding bindValues: (inout Parameters) throws(SQLiteError) -> Void) throws(SQLiteError) -> Int {
        try withStatement(sql, binding: bindValues) { statement throws(SQLiteError) in
            while try step(statement) {}
        }
        return Int(sqlite_nio_sqlite3_changes(handle))
    }

    /// Runs a query and returns its rows.
    func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteRow] {
        try withStatement(sql, binding: { parameters throws(SQLiteError) in try parameters.bind(contentsOf: bindings) }) {
            statement throws(SQLiteError) in
            var rows: [SQLiteRow] = []
            let columnCount = sqlite_nio_sqlite3_column_count(statement)
            while try step(statement) {
                rows.append(SQLiteRow(values: (0..<columnCount).map { column(statement, $0) }))
            }
            return rows
        }
    }

    /// Leaves a statement with no results for later in the transaction: it runs, once
    /// however many units leave it, before the next unit that reads what it writes (every
    /// unit not submitted with `readsDeferredWork: false`) and before the commit.
    func deferUntilRead(_ sql: String, _ bindings: [SQLiteValue]) {
        deferred.add(sql, bindings)
    }

    /// Runs what units left for later, and forgets it.
    func runDeferredStatements() throws(SQLiteError) {
        for statement in deferred.takeAll() { try execute(statement.sql, statement.bindings) }
    }

    /// Begins a transaction that holds the write lock from its start.
    func beginImmediate() throws(SQLiteError) {
        try execute("BEGIN IMMEDIATE")
        transactionNumber &+= 1
    }

    /// Counts the transactions ``beginImmediate()`` began: what was read from the database
    /// in one transaction can be told from what was read in another.
    private var transactionNumber = 0

    /// How many times this connection has found that other connections committed since it
    /// last looked (another process's `kabar-server user`, another server on the same file).
    /// It looks, with `PRAGMA data_version`, at most once per transaction, when first asked:
    /// while a transaction holds the write lock nobody else can commit. What a connection
    /// keeps in memory about the database is stale when this has changed since it was read.
    func commitsElsewhereSeen() throws(SQLiteError) -> Int {
        guard dataVersionReadIn != transactionNumber else { return commitsElsewhere }
        let version = try query("PRAGMA data_version").first?.integer(0)
        if version != dataVersion { commitsElsewhere += 1 }
        dataVersion = version
        dataVersionReadIn = transactionNumber
        return commitsElsewhere
    }

    private var commitsElsewhere = 0
    private var dataVersion: Int64?
    /// The ``transactionNumber`` of the transaction that read `dataVersion`.
    private var dataVersionReadIn: Int?

    /// Whether a transaction is open (SQLite ends one by itself after some errors).
    var isInTransaction: Bool { sqlite_nio_sqlite3_get_autocommit(handle) == 0 }

    /// The file SQLite keeps the database's write-ahead log in: the database file's path
    /// with `-wal` appended, after SQLite followed any symbolic links in it.
    var writeAheadLogPath: String {
        guard let database = sqlite_nio_sqlite3_db_filename(handle, "main"),
            let log = sqlite_nio_sqlite3_filename_wal(database)
        else { return "" }
        return String(cString: log)
    }

    // MARK: - Checkpoints

    /// Where SQLite's log hook records the log's length, after ``takeOverCheckpoints()``.
    private var logFrameCount: UnsafeMutablePointer<Int32>?

    /// Stops SQLite's automatic checkpoints, which copy the log back into the database file
    /// inside the commit that grew it past 1,000 frames, on this connection's thread. Its
    /// owner checkpoints instead, told how long the log is by ``framesInLog``.
    func takeOverCheckpoints() {
        guard logFrameCount == nil else { return }
        let count = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        count.initialize(to: 0)
        logFrameCount = count
        kabar_sqlite_count_log_frames(handle, count)
    }

    /// How many frames the log held after this connection's last commit (0 before
    /// ``takeOverCheckpoints()``). The log starts over, at the start of a write
    /// transaction, once a checkpoint has copied all of it.
    var framesInLog: Int { logFrameCount.map { Int($0.pointee) } ?? 0 }

    /// Copies into the database file what of the log no reader still needs, waiting for
    /// nobody (SQLite's passive checkpoint). - Returns: false if another connection was
    /// checkpointing at that moment.
    @discardableResult
    func checkpoint() throws(SQLiteError) -> Bool {
        let code = sqlite_nio_sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        if code & 0xFF == SQLITE_BUSY { return false }
        guard code == SQLITE_OK else { throw lastError(code) }
        return true
    }

    /// How many rows the connection's `INSERT`s, `UPDATE`s and `DELETE`s have changed
    /// since it opened (rows that a rollback took back included).
    var totalChanges: Int64 { sqlite_nio_sqlite3_total_changes64(handle) }

    /// The rowid of the last inserted row.
    var lastInsertedRowID: Int64 { sqlite_nio_sqlite3_last_insert_rowid(handle) }

    // MARK: - Limiting changes

    /// How far a unit of work limited to one change got.
    enum OneChangeProgress { case noChangeYet, changed, refusedASecond }

    /// From now until ``endOneChangeLimit()``, `execute` and `query` run at most one
    /// statement that changes the database and refuse any more with
    /// ``SQLiteError/secondChange``. (`executeScript` is not counted: no limited unit uses it.)
    func limitToOneChange() {
        oneChangeUnit = .noChangeYet
    }

    /// Lifts the limit. - Returns: how far the unit got.
    func endOneChangeLimit() -> OneChangeProgress? {
        defer { oneChangeUnit = nil }
        return oneChangeUnit
    }

    private func countChange(by statement: OpaquePointer) throws(SQLiteError) {
        guard let progress = oneChangeUnit, sqlite_nio_sqlite3_stmt_readonly(statement) == 0 else { return }
        guard progress == .noChangeYet else {
            oneChangeUnit = .refusedASecond
            throw .secondChange
        }
        oneChangeUnit = .changed
    }

    // MARK: - Statements

    /// Runs `body` with `sql`'s prepared statement, its parameters bound by `bindValues`.
    /// Inlined, so that the closures it takes are too (measured side by side: through a call,
    /// the store thread spent about 1.5% more per stored message).
    @inline(__always)
    private func withStatement<T>(
        _ sql: String,
        binding bindValues: (inout Parameters) throws(SQLiteError) -> Void,
        _ body: (OpaquePointer) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> T {
        let statement = try preparedStatement(sql)
        try countChange(by: statement)
        defer {
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
        }
        var parameters = Parameters(statement: statement, connection: self)
        try bindValues(&parameters)
        return try body(statement)
    }

    /// How often SQLite prepared each cached statement again (after a schema change, or
    /// because its plan depended on a value bound to it), by SQL text.
    var repreparations: [String: Int] {
        statements.mapValues { Int(sqlite_nio_sqlite3_stmt_status($0, SQLITE_STMTSTATUS_REPREPARE, 0)) }
    }

    private func preparedStatement(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        // A batch of sends runs one INSERT over and over. Comparing its text with the last
        // one's is a single comparison when both are the same string (a literal is), where
        // finding it in `statements` hashes all of the text each time.
        if let last = lastStatement, last.sql == sql { return last.statement }
        let statement = try cachedStatement(sql)
        lastStatement = (sql, statement)
        return statement
    }

    private func cachedStatement(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let code = sqlite_nio_sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw lastError(code) }
        statements[sql] = statement
        return statement
    }

    /// Advances the statement. - Returns: true if a row is ready.
    private func step(_ statement: OpaquePointer) throws(SQLiteError) -> Bool {
        switch sqlite_nio_sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw lastError(code)
        }
    }

    private func column(_ statement: OpaquePointer, _ index: Int32) -> SQLiteValue {
        switch sqlite_nio_sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER:
            return .integer(sqlite_nio_sqlite3_column_int64(statement, index))
        case SQLITE_TEXT:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
            guard let pointer = sqlite_nio_sqlite3_column_text(statement, index) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
            guard let pointer = sqlite_nio_sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default:
            return .null
        }
    }

    fileprivate func lastError(_ code: Int32) -> SQLiteError {
        SQLiteError(code: code, message: handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "")
    }
}

// MARK: - Parameters

extension SQLiteConnection {
    /// The parameters of a statement about to run, bound in order from the first.
    struct Parameters {
        private let statement: OpaquePointer
        private let connection: SQLiteConnection
        private var next: Int32 = 1

        fileprivate init(statement: OpaquePointer, connection: SQLiteConnection) {
            self.statement = statement
            self.connection = connection
        }

        mutating func bind(_ integer: Int64) throws(SQLiteError) {
            try bind(.integer(integer))
        }

        mutating func bind(_ text: String) throws(SQLiteError) {
            try bind(.text(text))
        }

        /// Binds `values` to the next parameters, in order.
        mutating func bind(contentsOf values: [SQLiteValue]) throws(SQLiteError) {
            for value in values { try bind(value) }
        }

        mutating func bind(_ value: SQLiteValue) throws(SQLiteError) {
            let index = next
            next += 1
            let code: Int32
            switch value {
            case .integer(let integer):
                code = sqlite_nio_sqlite3_bind_int64(statement, index, integer)
            case .text(var text):
                // The string's own UTF-8 (or a stack copy of a small one), not a C-string copy.
                code = text.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { characters in
                        guard let start = characters.baseAddress else {
                            // An empty string may have no address, and a null pointer binds NULL.
                            return sqlite_nio_sqlite3_bind_text(statement, index, "", 0, Self.transient)
                        }
                        return sqlite_nio_sqlite3_bind_text(statement, index, start, Int32(characters.count), Self.transient)
                    }
                }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { raw in
                    sqlite_nio_sqlite3_bind_blob(statement, index, raw.baseAddress, Int32(raw.count), Self.transient)
                }
            case .null:
                code = sqlite_nio_sqlite3_bind_null(statement, index)
            }
            guard code == SQLITE_OK else { throw connection.lastError(code) }
        }

        /// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the call returns.
        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    }
}

/// What a connection does when another connection (another process: `kabar-server user`,
/// or the server while that runs) holds the write lock: try again every 100 µs or so,
/// 50,000 times (5 s or somewhat more), then fail with `SQLITE_BUSY`.
///
/// SQLite's own `busy_timeout` sleeps ever longer (up to 100 ms) between tries. A server
/// under load commits back to back and leaves the lock free for some tens of microseconds
/// between transactions, so those sparse tries miss the gaps and an administrative write
/// could fail after waiting the whole timeout. Frequent tries find a gap within a few
/// transactions.
private let retryWhileLocked: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32 = { _, attempts in
    guard attempts < 50_000 else { return 0 }
    usleep(100)
    return 1
}
