// MARK: - DatabaseJob

/// One caller's unit of work in a batch of ``SQLiteDatabase``.
protocol DatabaseJob: AnyObject, Sendable {
    /// Whether the unit needs a savepoint of its own.
    var changes: UnitChanges { get }
    /// Whether what earlier units deferred must run before this one (see
    /// ``SQLiteConnection/deferUntilRead(_:_:)``).
    var readsDeferredWork: Bool { get }
    /// Runs the work inside the batch's transaction. - Returns: false if it failed and
    /// its savepoint must be rolled back.
    func run(on connection: SQLiteConnection) -> Bool
    /// Records a failure of the savepoint handling itself.
    func fail(_ error: any Error)
    /// Resumes the caller once the batch's transaction ended.
    func finish(commitError: (any Error)?)
}

/// A ``DatabaseJob`` that hands a `T` to its caller's completion handler.
///
/// `@unchecked Sendable`: its one mutable property, `outcome`, is written by `run` and
/// `fail` on the worker thread and read by `finish`, on the worker thread or on the
/// flusher thread after the worker handed the job over under the flusher's lock (which
/// orders the write before the read). The caller's thread only creates the job. Exercised
/// by every store test; the durable-commit and power-cut tests take the flusher's path.
final class Job<T: Sendable>: DatabaseJob, @unchecked Sendable {
    let changes: UnitChanges
    let readsDeferredWork: Bool
    private let body: @Sendable (SQLiteConnection) throws -> T
    private let completion: @Sendable (Result<T, any Error>) -> Void
    private var outcome: Result<T, any Error>?

    init(
        changes: UnitChanges,
        readsDeferredWork: Bool = true,
        body: @escaping @Sendable (SQLiteConnection) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        self.changes = changes
        self.readsDeferredWork = readsDeferredWork
        self.body = body
        self.completion = completion
    }

    func run(on connection: SQLiteConnection) -> Bool {
        do {
            outcome = .success(try body(connection))
            return true
        } catch {
            outcome = .failure(error)
            return false
        }
    }

    func fail(_ error: any Error) {
        outcome = .failure(error)
    }

    func finish(commitError: (any Error)?) {
        switch (outcome, commitError) {
        case (.failure(let error)?, _): completion(.failure(error))
        case (_, let error?): completion(.failure(error))
        case (.success(let value)?, nil): completion(.success(value))
        case (nil, nil): completion(.failure(SQLiteError.closed))
        }
    }
}
