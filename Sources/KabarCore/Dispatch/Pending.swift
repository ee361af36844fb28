import KabarProtocol

// MARK: - Pending

/// A result some other thread is still working on: completed once, from any thread, and
/// handed to the one callback its consumer registers (before or after it completes).
///
/// This is how the core answers without knowing what runs its callers: a front end on an
/// event loop hops back to it in the callback, an `async` caller awaits ``value``.
///
/// Its methods are `@inlinable` so that a front end in another module calls versions
/// specialized for its `Value`: unspecialized, every call looked up the metadata of
/// `State` in the runtime's locked cache (seen with `perf` on the `send` path).
public final class Pending<Value: Sendable>: Sendable {
    @usableFromInline
    enum State {
        case waiting
        case awaited(@Sendable (Result<Value, any Error>) -> Void)
        case completed(Result<Value, any Error>)
        case delivered
    }

    @usableFromInline
    let state = Locked(State.waiting)

    @inlinable
    public init() {}

    /// Registers the one callback; it runs at once if the result is there, else on the
    /// completing thread.
    @inlinable
    public func whenComplete(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        let ready = state.withLock { state -> Result<Value, any Error>? in
            switch state {
            case .waiting:
                state = .awaited(callback)
                return nil
            case .completed(let result):
                state = .delivered
                return result
            case .awaited, .delivered:
                preconditionFailure("a Pending has one consumer")
            }
        }
        if let ready { callback(ready) }
    }

    /// Completes it; later completions are ignored.
    @inlinable
    public func complete(_ result: Result<Value, any Error>) {
        let callback = state.withLock { state -> (@Sendable (Result<Value, any Error>) -> Void)? in
            switch state {
            case .waiting:
                state = .completed(result)
                return nil
            case .awaited(let callback):
                state = .delivered
                return callback
            case .completed, .delivered:
                return nil
            }
        }
        callback?(result)
    }

    /// The result, awaited.
    public var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                whenComplete { continuation.resume(with: $0) }
            }
        }
    }
}

extension Pending<Reply> {
    /// Completes it with the reply for a service outcome (see ``Reply/answering(_:_:)``).
    func answer<Outcome>(_ outcome: Result<Outcome, any Error>, _ reply: (Outcome) -> Reply) {
        complete(Reply.answering(outcome, reply))
    }
}

extension Reply {
    /// The reply for a service outcome: `reply(value)`, the refusal's error reply, or the
    /// infrastructure failure (the front end logs it and answers ``Refusal/serverFailure``).
    static func answering<Outcome>(_ outcome: Result<Outcome, any Error>, _ reply: (Outcome) -> Reply)
        -> Result<Reply, any Error>
    {
        switch outcome {
        case .success(let value): .success(reply(value))
        case .failure(let refusal as Refusal): .success(.refused(refusal))
        case .failure(let error): .failure(error)
        }
    }
}
