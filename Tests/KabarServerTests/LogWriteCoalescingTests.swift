import Foundation
import KabarCrashDisk
@testable import KabarSQLite
import KabarTestSupport
import Testing

extension SimulatedDiskSuites {
    /// What the log-write-coalescing VFS under every ``SQLiteConnection`` promises: a commit
    /// reaches the log in a few writes instead of two per page, a write that fails fails its
    /// commit, and no other connection ever meets a log whose bytes still wait in memory.
    ///
    /// On the simulated disk (`kabar-crash`), which counts the writes that reach the file and
    /// makes them fail once the power is cut.
    @Suite("SQLite log write coalescing")
    final class LogWriteCoalescingTests {
        let directory: String
        let path: String

        /// Where a power cut writes what the disk holds after it (the tests do not read it).
        let image: String

        init() throws {
            #expect(kabar_crashdisk_install() == 0)
            directory = try makeTemporaryDirectory()
            path = directory + "/kabar.sqlite"
            image = try makeTemporaryDirectory()
            kabar_crashdisk_track(directory + "/")
        }

        deinit {
            for folder in [directory, image] { try? FileManager.default.removeItem(atPath: folder) }
        }

        /// A connection to a fresh database in WAL mode, as the store runs it, on the
        /// simulated disk, with one table of blobs.
        func openDatabase() throws -> SQLiteConnection {
            let connection = try SQLiteConnection(path: path, vfs: "kabar-crash")
            try connection.executeScript(
                """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB NOT NULL);
                """
            )
            return connection
        }

        /// Inserts `count` rows of 1,000 bytes each in one transaction.
        func insertRows(_ count: Int, into connection: SQLiteConnection) throws {
            try connection.beginImmediate()
            for _ in 0..<count {
                try connection.execute("INSERT INTO t (v) VALUES (randomblob(1000))")
            }
            try connection.execute("COMMIT")
        }

        @Test("a commit of many pages reaches the log in a few writes, not two per page, and is in the file when COMMIT returns")
        func commitIsFewWrites() throws {
            let connection = try openDatabase()
            defer { connection.close() }
            try insertRows(1, into: connection)
            let log = path + "-wal"
            let (writesBefore, sizeBefore) = (kabar_crashdisk_writes(log), fileSize(atPath: log))

            try insertRows(40, into: connection)  // 40 KB of rows: about ten pages

            let frames = (fileSize(atPath: log) - sizeBefore) / (4096 + 24)
            let writes = kabar_crashdisk_writes(log) - writesBefore
            #expect(frames >= 10, "the commit should have written its pages to the log")
            // SQLite writes each frame as two writes; gathered, a commit is one write per 64 KiB.
            #expect(writes >= 1 && writes <= (frames * (4096 + 24)) / (64 * 1024) + 1, "\(writes) writes for \(frames) frames")
            let reader = try SQLiteConnection(path: path)
            defer { reader.close() }
            #expect(try reader.query("SELECT count(*) FROM t").first?.integer(0) == 41)
        }

        @Test("a commit whose write fails reports the failure, and leaves nothing of it behind")
        func failedWriteFailsCommit() throws {
            let connection = try openDatabase()
            defer { connection.close() }
            try insertRows(3, into: connection)
            #expect(kabar_crashdisk_cut_power(image, 1) == 0)  // from now on every write fails

            #expect(throws: SQLiteError.self) { try self.insertRows(5, into: connection) }

            if connection.isInTransaction { _ = try? connection.execute("ROLLBACK") }
            #expect(try connection.query("SELECT count(*) FROM t").first?.integer(0) == 3)
        }

        /// One transaction on a fresh database whose page cache is too small for it: SQLite
        /// writes pages to the log before the commit, writes them again in place when they
        /// change again, and rewrites the checksums of the frames after the commit's frame.
        /// Returns how many writes reached the log.
        func commitRewritingFrames(armingCutAt operation: Int? = nil) throws -> Int {
            let connection = try openDatabase()
            defer { connection.close() }
            try insertRows(1, into: connection)
            try connection.execute("PRAGMA cache_size = 10")
            let writesBefore = kabar_crashdisk_writes(path + "-wal")
            if let operation { kabar_crashdisk_arm_cut(image, 1, operation) }
            try connection.beginImmediate()
            for _ in 0..<60 {
                try connection.execute("INSERT INTO t (v) VALUES (randomblob(1000))")
            }
            try connection.execute("UPDATE t SET v = randomblob(1000) WHERE id <= 10")  // pages spilled already
            try connection.execute("COMMIT")
            return kabar_crashdisk_writes(path + "-wal") - writesBefore
        }

        @Test("a commit that rewrites its frames fails when the last rewrite fails")
        func failedRewriteFailsCommit() throws {
            let writes = try commitRewritingFrames()
            for file in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + file) }
            kabar_crashdisk_track(directory + "/")

            // The same commit again, with the power cut just before its last write.
            #expect(throws: SQLiteError.self) { try self.commitRewritingFrames(armingCutAt: writes) }
            #expect(kabar_crashdisk_power_is_cut() == 1)
        }

        @Test("bytes of a rolled-back transaction never overwrite what another connection committed after it")
        func rolledBackBytesDoNotOverwriteLaterCommits() throws {
            let first = try openDatabase()
            defer { first.close() }
            let second = try SQLiteConnection(path: path, vfs: "kabar-crash")
            defer { second.close() }
            try insertRows(1, into: first)
            // An empty log, so that the rollback finds nothing of its pages to read back from
            // it (reading the log would hand the gathered bytes down on its own).
            _ = try first.query("PRAGMA wal_checkpoint(TRUNCATE)")
            // A page cache too small for the transaction: SQLite writes pages to the log before
            // the commit, and a rollback leaves those frames behind as garbage, where the next
            // commit's frames go.
            try first.execute("PRAGMA cache_size = 10")
            try first.beginImmediate()
            for _ in 0..<30 {
                try first.execute("INSERT INTO t (v) VALUES (randomblob(1000))")
            }
            try first.execute("ROLLBACK")

            try second.beginImmediate()
            try second.execute("INSERT INTO t (v) VALUES (x'0102030405')")
            try second.execute("COMMIT")
            // The first connection uses the log again (reads it), and then everything closes:
            // reopening recovers the database from what the log file holds.
            _ = try first.query("SELECT count(*) FROM t")
            first.close()
            second.close()

            let reopened = try SQLiteConnection(path: path)
            defer { reopened.close() }
            #expect(try reopened.query("PRAGMA integrity_check").first?.text(0) == "ok")
            #expect(try reopened.query("SELECT v FROM t ORDER BY id DESC LIMIT 1").first?.blob(0) == [1, 2, 3, 4, 5])
            #expect(try reopened.query("SELECT count(*) FROM t").first?.integer(0) == 2)
        }
    }
}
