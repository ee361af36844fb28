import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - WriteAheadLog

/// A descriptor of the database's write-ahead log (its `-wal` file), opened only to flush it.
///
/// With `synchronous = NORMAL`, SQLite writes a commit's frames to the log and returns
/// without flushing them. Flushing the file through any descriptor of it afterwards
/// makes those frames, and every earlier commit's, durable: the file's dirty pages belong
/// to the file, not to the descriptor that wrote them. SQLite deletes the log only when its
/// last connection closes or the journal mode changes, so while the database's own
/// connection is open this descriptor names the log SQLite writes.
final class WriteAheadLog: Sendable {
    private let descriptor: Int32

    /// Opens the log at `path` (``SQLiteConnection/writeAheadLogPath`` of a connection in
    /// WAL mode that has read the database, so that the log exists).
    init(at path: String) throws(SQLiteError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .walUnavailable(path: path, errno: errno) }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Flushes everything written to the log so far to the disk.
    func flush() throws(SQLiteError) {
        #if os(Linux)
        // The data, and the file size when a commit grew the log; not the times.
        let result = fdatasync(descriptor)
        #else
        let result = fsync(descriptor)
        #endif
        guard result == 0 else { throw .walFlushFailed(errno: errno) }
    }
}

extension SQLiteError {
    static func walUnavailable(path: String, errno: Int32) -> SQLiteError {
        SQLiteError(code: 14, message: "cannot open the write-ahead log \(path): \(String(cString: strerror(errno)))")  // SQLITE_CANTOPEN
    }

    static func walFlushFailed(errno: Int32) -> SQLiteError {
        SQLiteError(  // SQLITE_IOERR_FSYNC
            code: 1034,
            message: "flushing the write-ahead log failed (\(String(cString: strerror(errno)))); commits since the last flush may be lost, so the store takes no more work until it is restarted"
        )
    }
}
