#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Locked

/// A value shared between threads, read and written only while its lock is held.
///
/// Kabar uses this rather than the standard library's `Mutex` because the thread sanitizer
/// cannot see what `Mutex` orders on Linux: its lock is a futex inside the standard
/// library, which is not instrumented, so every access it guards is reported as a race
/// (Swift 6.3.1; a four-thread dictionary update under `Mutex` shows it). This locks a
/// `pthread_mutex_t`, whose calls the sanitizer intercepts, so the races it reports in
/// Kabar are real ones.
///
/// `@unchecked Sendable`: `value` is touched only inside `withLock`, with the mutex held.
/// `LockedTests` updates one from many threads at once, under the sanitizer in CI.
public final class Locked<Value>: @unchecked Sendable {
    @usableFromInline
    var value: Value
    @usableFromInline
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the lock held; keep it short and never wait inside it.
    /// (Inlinable, so that callers in other modules get it specialized for their value.)
    @inlinable
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
