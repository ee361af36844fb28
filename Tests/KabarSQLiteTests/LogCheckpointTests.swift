import Foundation
@testable import KabarSQLite
import KabarTestSupport
import Testing

/// Where the write-ahead log is copied back into the database file: on a thread of its own
/// (``LogCheckpointer``) while the worker goes on committing, and on the worker once the log
/// has grown to its bound, so that the log starts over.
@Suite("SQLite log checkpoints")
final class LogCheckpointTests {
    let directory: String
    let path: String

    init() throws {
        directory = try makeTemporaryDirectory()
        path = directory + "/kabar.sqlite"
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A database of one table of blobs whose checkpoints on the checkpointer's thread
    /// pass through `checkpoints`.
    func openDatabase(checkpoints: FlushGate) throws -> SQLiteDatabase {
        try SQLiteDatabase(path: path, migrations: ["CREATE TABLE t (v BLOB NOT NULL)"]) { log in
            try log.flush()
        } checkpointLog: { connection in
            try? checkpoints.pass()
            _ = try? connection.checkpoint()
        }
    }

    /// Commits one transaction of 12 rows of 1,000 bytes (a few pages).
    func commitRows(into database: SQLiteDatabase) async throws {
        try await database.write { db in
            for _ in 0..<12 { try db.execute("INSERT INTO t (v) VALUES (randomblob(1000))") }
        }
    }

    /// The frames the log file has room for (it does not shrink when the log starts over).
    var logFileFrames: Int { max(0, fileSize(atPath: path + "-wal") - 32) / (4096 + 24) }

    @Test("the log is copied back into the database file on a thread of its own: a checkpoint held up holds up no commit")
    func checkpointsOffTheWorker() async throws {
        let checkpoints = FlushGate()
        checkpoints.hold()
        let database = try openDatabase(checkpoints: checkpoints)
        let databaseSize = fileSize(atPath: path)
        // Past one checkpoint's growth (a log that starts over at 1,000 frames never gets there).
        for _ in 0..<2_000 where logFileFrames < LogCheckpointer.framesPerCheckpoint + 50 {
            try await commitRows(into: database)
        }
        try await eventually { checkpoints.waiting == 1 }  // asked for, and held

        for _ in 0..<50 { try await commitRows(into: database) }  // the worker goes on meanwhile
        #expect(fileSize(atPath: path) == databaseSize, "nothing should be copied while the checkpoint is held")

        checkpoints.release()
        try await eventually { fileSize(atPath: path) > databaseSize }
        await database.close()
    }

    @Test("the log stays within its bound when the checkpoints on their own thread do not keep up")
    func logStaysBounded() async throws {
        let checkpoints = FlushGate()
        checkpoints.hold()  // the checkpointer's thread never gets to copy anything
        let database = try openDatabase(checkpoints: checkpoints)
        var commits = 0
        var framesWritten = 0
        while framesWritten < 3 * LogCheckpointer.mostFrames {
            let before = logFileFrames
            try await commitRows(into: database)
            commits += 1
            framesWritten += max(logFileFrames - before, 4)  // a log that started over reuses its file
        }
        // One commit here is a few frames: the log starts over within a commit of its bound.
        #expect(logFileFrames <= LogCheckpointer.mostFrames + 20, "the log file holds \(logFileFrames) frames")
        checkpoints.release()
        await database.close()

        let reader = try SQLiteConnection(path: path)
        defer { reader.close() }
        #expect(try reader.query("SELECT count(*) FROM t").first?.integer(0) == Int64(commits * 12))
    }
}
