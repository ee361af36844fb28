#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

// MARK: - NamedThread

/// A thread of Kabar's own (the store's worker, its flusher and checkpointer, the password
/// hashing), named so that `top -H` and `perf` show which is which, and waited for where
/// its owner needs it ended.
///
/// `@unchecked Sendable`: `hasEnded` is read and written only with `ended` held. Every
/// store test starts and finishes these threads, under the thread sanitizer in CI.
package final class NamedThread: @unchecked Sendable {
    private let name: String
    private let ended = NSCondition()
    private var hasEnded = false

    /// - Parameter name: at most 15 bytes: Linux drops a longer name (the thread then
    ///   shows as "oot.default-qos", the name a new thread inherits).
    package init(name: String) {
        self.name = name
    }

    /// Runs `body` on a new thread.
    package func start(_ body: @escaping @Sendable () -> Void) {
        Thread { [self] in
            // Named from inside: on Linux a name set before `start()` never reaches the system.
            Thread.current.name = name
            body()
            ended.lock()
            hasEnded = true
            ended.broadcast()
            ended.unlock()
        }.start()
    }

    /// Returns once the body handed to ``start(_:)`` has returned.
    package func waitUntilEnded() {
        ended.lock()
        defer { ended.unlock() }
        while !hasEnded { ended.wait() }
    }
}
