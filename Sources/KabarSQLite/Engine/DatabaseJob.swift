// MARK: - DatabaseJob

/// One caller's unit of work in a batch of ``SQLiteDatabase``: its body, run inside the
/// batch's transaction, and its caller's completion, resumed once the transaction ended.
///
/// Not generic, on purpose: the methods of a generic class are called through its vtable
/// without specialization, and each call looked up the metadata of `Result<T, any Error>`
/// in the runtime's locked cache (a few percent of the server's CPU per `send`, seen
/// with `perf`). The type-specific parts live in closures made by the generic
/// initializer, which the compiler specializes for each caller's `T`.
///
/// `@unchecked Sendable`: the outcome its closures share is written by `run` and `fail`
/// on the worker thread and read by `finish`, on the worker thread or on the flusher
/// thread after the worker handed the job over under the flusher's lock (which orders the
/// write before the read). The caller's thread only creates the job. Exercised by every
/// store test; the durable-commit and power-cut tests take the flusher's path.
final class DatabaseJob: @unchecked Sendable {
    /// Whether the unit needs a savepoint of its own.
    let changes: UnitChanges
    /// Whether what earlier units deferred must run before this one (see
    /// ``SQLiteConnection/deferUntilRead(_:_:)``).
    let readsDeferredWork: Bool
    private let runBody: (SQLiteConnection) -> Bool
    private let recordFailure: (any Error) -> Void
    private let resumeCaller: ((any Error)?) -> Void

    init<T: Sendable>(
        changes: UnitChanges,
        readsDeferredWork: Bool = true,
        body: @escaping @Sendable (SQLiteConnection) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        self.changes = changes
        self.readsDeferredWork = readsDeferredWork
        let outcome = Outcome<T>()
        runBody = { connection in
            do {
                outcome.result = .success(try body(connection))
                return true
            } catch {
                outcome.result = .failure(error)
                return false
            }
        }
        recordFailure = { outcome.result = .failure($0) }
        resumeCaller = { commitError in
            switch (outcome.result, commitError) {
            case (.failure(let error)?, _): completion(.failure(error))
            case (_, let error?): completion(.failure(error))
            case (.success(let value)?, nil): completion(.success(value))
            case (nil, nil): completion(.failure(SQLiteError.closed))
            }
        }
    }

    /// Runs the work inside the batch's transaction. - Returns: false if it failed and
    /// its savepoint must be rolled back.
    func run(on connection: SQLiteConnection) -> Bool { runBody(connection) }

    /// Records a failure of the savepoint handling itself.
    func fail(_ error: any Error) { recordFailure(error) }

    /// Resumes the caller once the batch's transaction ended.
    func finish(commitError: (any Error)?) { resumeCaller(commitError) }
}

/// What a job's body produced, between its run and its caller's resumption.
private final class Outcome<T> {
    var result: Result<T, any Error>?
}
