import Foundation
import KabarCore
import KabarProtocol
@testable import KabarSQLite
import Synchronization
import Testing

/// What is particular to the SQLite store, on a fresh file per test. What every store must
/// do is checked by the conformance suite (KabarStoreTests).
@Suite("SQLite store")
final class SQLiteChatStoreTests {
    let directory: String
    let path: String
    let store: SQLiteChatStore
    let now = Timestamp(milliseconds: 1_700_000_000_000)

    init() throws {
        directory = NSTemporaryDirectory() + "kabar-store-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/kabar.sqlite"
        store = try SQLiteChatStore(path: path)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func addUser(_ name: String) async throws -> UserRecord {
        let username = Username(name)!
        #expect(try await store.insertUser(NewUser(username: username, profile: Profile(name: name.capitalized, country: "C")!, passwordHash: "$scrypt$x")))
        return try #require(try await store.user(named: username))
    }

    @Test("only the hash of a token is stored")
    func tokenNotStored() async throws {
        let messi = try await addUser("messi")
        let token = SessionToken.random()
        _ = try await store.insertSession(tokenHash: TokenHash(token), userID: messi.id, at: now)
        await store.close()
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path)) + wal
        #expect(bytes.range(of: Data(token.text.utf8)) == nil)
        #expect(bytes.range(of: Data(TokenHash(token).bytes)) != nil)
    }

    @Test("an inbox read walks each conversation from its first unread message, never the recipient's history")
    func inboxQueryPlan() async throws {
        let plans = try await store.database.write { db in
            try [
                (SQLiteChatStore.unreadMessagesQuery, [SQLiteValue.integer(1)]),
                (SQLiteChatStore.unreadBySenderQuery, [.integer(1)]),
                (SQLiteChatStore.markReadUpToQuery, [.integer(1), .integer(1), .integer(1)]),
            ].map { query, values in try Self.plan(of: query, values, on: db) }
        }
        for plan in plans {
            #expect(plan.contains("SEARCH c USING PRIMARY KEY (user_id=?)"), "\(plan)")
            #expect(plan.contains("SEARCH m USING INDEX messages_conversation (recipient_id=? AND sender_username=? AND id>?"), "\(plan)")
        }
        // An ack moves a conversation's start past read messages from where it was.
        let skip = try await store.database.write { db in
            try Self.plan(of: SQLiteChatStore.advanceUnreadFromQuery, [.integer(1), .text("messi")], on: db)
        }
        #expect(skip.contains("USING INDEX messages_conversation (recipient_id=? AND sender_username=? AND id>?)"), "\(skip)")
        #expect(!skip.contains("SCAN"), "\(skip)")
    }

    @Test("removing a user deletes their messages a bounded number per transaction, and only theirs")
    func removalInRanges() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        for index in 0..<25 {
            #expect(try await store.deliver("h\(index)", from: messi, to: [henderson.username], at: now) != nil)
            #expect(try await store.deliver("m\(index)", from: henderson, to: [messi.username], at: now) != nil)
        }
        _ = try await store.takeUnreadMessages(for: henderson.id, at: now)  // read ones go too
        #expect(try await store.deleteMessages(to: henderson.id, upTo: 10) == 10)
        #expect(try await store.deleteMessages(to: henderson.id, upTo: 10) == 10)
        #expect(try await store.deleteMessages(to: henderson.id, upTo: 10) == 5)
        #expect(try await store.deleteMessages(to: henderson.id, upTo: 10) == 0)
        #expect(try await store.deliver("late", from: messi, to: [henderson.username], at: now) != nil)
        #expect(try await store.removeUser(named: henderson.username))
        let left = try await store.database.write { db in try db.query("SELECT count(*) FROM messages").first?.integer(0) }
        #expect(left == 25)
        #expect(try await store.takeUnreadMessages(for: messi.id, at: now).count == 25)
    }

    @Test("a recipient removed and added again through this store: sends in between are refused, later ones reach the new user")
    func recipientRemovedHere() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        #expect(try await store.deliver("before", from: messi, to: [henderson.username], at: now) != nil)
        #expect(try await store.removeUser(named: henderson.username))
        #expect(try await store.deliver("while gone", from: messi, to: [henderson.username], at: now) == nil)
        // Back with another name (and, ids of removed users being reused, perhaps the same id).
        #expect(try await store.insertUser(NewUser(username: henderson.username, profile: Profile(name: "Jordan", country: "C")!, passwordHash: "$scrypt$x")))
        let again = try #require(try await store.user(named: henderson.username))
        #expect(try await store.deliver("after", from: messi, to: [henderson.username], at: now)?.first?.toName == "Jordan")
        #expect(try await store.takeUnreadMessages(for: again.id, at: now).map(\.text) == ["after"])
    }

    @Test("a recipient removed and added again by another connection (`kabar-server user` in another process) is seen at the next send")
    func recipientRemovedElsewhere() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        #expect(try await store.deliver("before", from: messi, to: [henderson.username], at: now) != nil)
        let other = try SQLiteChatStore(path: path)
        #expect(try await other.removeUser(named: henderson.username))
        #expect(try await store.deliver("while gone", from: messi, to: [henderson.username], at: now) == nil)
        #expect(try await other.insertUser(NewUser(username: henderson.username, profile: Profile(name: "Jordan", country: "C")!, passwordHash: "$scrypt$x")))
        let again = try #require(try await other.user(named: henderson.username))
        let delivered = try await store.deliver("after", from: messi, to: [henderson.username], at: now)
        #expect(delivered?.first?.toName == "Jordan")
        #expect(try await other.takeUnreadMessages(for: again.id, at: now).map(\.text) == ["after"])
        await other.close()
    }

    @Test("a message id is never given twice: after the newest messages went with their recipient, also once the file is reopened")
    func messageIDsAfterRemoval() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        #expect(try await store.deliver("kept", from: henderson, to: [messi.username], at: now) != nil)
        var given: [Int64] = []
        for text in ["a", "b", "c"] {
            given += try #require(try await store.deliver(text, from: messi, to: [henderson.username], at: now)).map(\.id)
        }
        #expect(try await store.removeUser(named: henderson.username))
        let next = try #require(try await store.deliver("d", from: messi, to: [lineker.username], at: now)?.first?.id)
        #expect(next > given.max()!)
        given.append(next)
        // The newest again goes with its recipient; a reopened store counts from the file.
        #expect(try await store.removeUser(named: lineker.username))
        await store.close()
        let reopened = try SQLiteChatStore(path: path)
        let messiAgain = try #require(try await reopened.user(named: messi.username))
        let afterReopen = try #require(try await reopened.deliver("e", from: messiAgain, to: [messi.username], at: now)?.first?.id)
        #expect(afterReopen > given.max()!)
        await reopened.close()
    }

    @Test("a message id is never given twice when another connection stores and removes messages meanwhile (another server on the file, `kabar-server user remove`)")
    func messageIDsAfterOthersCommits() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        var given = try #require(try await store.deliver("a", from: messi, to: [henderson.username], at: now)).map(\.id)
        let other = try SQLiteChatStore(path: path)
        given += try #require(try await other.deliver("b", from: henderson, to: [messi.username], at: now)).map(\.id)
        given += try #require(try await store.deliver("c", from: messi, to: [henderson.username], at: now)).map(\.id)
        given += try #require(try await other.deliver("d", from: messi, to: [henderson.username, henderson.username], at: now)).map(\.id)
        #expect(try await other.removeUser(named: henderson.username))
        await other.close()
        given += try #require(try await store.deliver("e", from: messi, to: [messi.username], at: now)).map(\.id)
        #expect(Set(given).count == given.count, "\(given)")
        #expect(given == given.sorted(), "\(given)")
    }

    @Test("storing a message leaves SQLite's AUTOINCREMENT counter alone: the store numbers messages itself")
    func messagesNumberedByTheStore() async throws {
        let messi = try await addUser("messi")
        #expect(try await store.deliver("a", from: messi, to: [messi.username], at: now) != nil)
        let counters = try await store.database.write { db in
            try db.query("SELECT count(*) FROM sqlite_sequence WHERE name = 'messages'").first?.integer(0)
        }
        #expect(counters == 0)
    }

    @Test("another process's writes get their turn while the store commits back to back (as `kabar-server user` does)")
    func secondWriterIsNotStarved() async throws {
        let database = store.database
        try await database.write { db in try db.execute("CREATE TABLE load (v INTEGER)") }
        // Chains of units that each hand in the next as it finishes: the store's queue is
        // never empty, so it begins its next (long) transaction right after each commit,
        // and the lock is free only for moments.
        let stop = StopFlag()
        for _ in 0..<16 { LoadChain(database: database, stop: stop).next() }
        defer { stop.set() }
        let other = try SQLiteDatabase(path: path, migrations: SQLiteSchema.migrations)
        for index in 0..<5 {
            try await other.write { db in
                try db.execute("CREATE TABLE IF NOT EXISTS other (v INTEGER)")
                try db.execute("INSERT INTO other (v) VALUES (?)", [.integer(Int64(index))])
            }
        }
        stop.set()
        let count = try await other.write { db in try db.query("SELECT count(*) FROM other").first?.integer(0) }
        #expect(count == 5)
        await other.close()
    }

    @Test("a failing unit in a batch rolls back alone; the others commit")
    func batchIsolation() async throws {
        struct Boom: Error {}
        let database = store.database
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask {
                    do {
                        try await database.write { db in
                            try db.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
                            try db.execute("INSERT INTO t (v) VALUES (?)", [.integer(Int64(index))])
                            if index.isMultiple(of: 5) { throw Boom() }
                        }
                        return true
                    } catch is Boom {
                        return false
                    }
                }
            }
            var committed = 0
            for try await ok in group where ok { committed += 1 }
            #expect(committed == 40)
        }
        let rows = try await database.write { db in try db.query("SELECT v FROM t").compactMap { $0.integer(0) } }
        #expect(rows.count == 40)
        #expect(rows.allSatisfy { !$0.isMultiple(of: 5) })
    }

    @Test("a message of a burst that fails in the store fails alone: none of its rows or conversations stay, the others are stored")
    func burstMessageFailure() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        try await store.database.write { db in
            try db.execute(
                """
                CREATE TRIGGER refuse BEFORE INSERT ON messages
                WHEN NEW.body = 'boom' OR (NEW.body = 'half' AND NEW.recipient_id = \(lineker.id))
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """
            )
        }
        let outcomes = try await store.deliver(
            [
                OutgoingMessage(text: "a", sender: messi, recipients: [henderson.username], origin: nil),
                OutgoingMessage(text: "boom", sender: messi, recipients: [henderson.username], origin: nil),
                // Stored for henderson, then refused for lineker: neither row may stay.
                OutgoingMessage(text: "half", sender: lineker, recipients: [henderson.username, lineker.username], origin: nil),
                OutgoingMessage(text: "c", sender: messi, recipients: [lineker.username], origin: nil),
            ],
            at: now
        )
        #expect(try outcomes[0].get()?.map(\.text) == ["a"])
        #expect(throws: SQLiteError.self) { try outcomes[1].get() }
        #expect(throws: SQLiteError.self) { try outcomes[2].get() }
        #expect(try outcomes[3].get()?.map(\.text) == ["c"])
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.text) == ["a"])
        #expect(try await store.takeUnreadMessages(for: lineker.id, at: now).map(\.text) == ["c"])
        let linkedToHenderson = try await store.database.write { db in
            try db.query(
                "SELECT count(*) FROM conversation_peers WHERE (user_id = ? AND peer_username = 'lineker') OR (user_id = ? AND peer_username = 'henderson')",
                [.integer(henderson.id), .integer(lineker.id)]
            ).first?.integer(0)
        }
        #expect(linkedToHenderson == 0)
        // A message refused after one to the same recipient was stored, and one stored after
        // one refused: who talked to whom is recorded as the stored ones say.
        let again = try await store.deliver(
            [
                OutgoingMessage(text: "d", sender: henderson, recipients: [messi.username], origin: nil),
                OutgoingMessage(text: "boom", sender: henderson, recipients: [messi.username], origin: nil),
                OutgoingMessage(text: "boom", sender: henderson, recipients: [lineker.username], origin: nil),
                OutgoingMessage(text: "e", sender: henderson, recipients: [lineker.username], origin: nil),
            ],
            at: now
        )
        #expect(try again.map { try? $0.get()?.map(\.text) } == [["d"], nil, nil, ["e"]])
        let hendersonsPeers = try await store.conversations(of: henderson).map(\.peer.username)
        #expect(Set(hendersonsPeers) == ["messi", "lineker"])
        #expect(try await store.conversations(of: lineker).map(\.peer.username).contains("henderson"))
    }

    @Test("a unit whose error ends the whole transaction (as SQLITE_IOERR can): what is reported is what is stored")
    func transactionLostMidBatch() async throws {
        struct Boom: Error {}
        let database = store.database
        try await database.write { db in try db.execute("CREATE TABLE t (v INTEGER)") }
        let outcomes = await writeConcurrently(200) { index in
            (.anyStatements, { db in
                try db.execute("INSERT INTO t (v) VALUES (?)", [.integer(index)])
                if index == 100 {
                    // What SQLite does on its own after some I/O errors.
                    try db.execute("ROLLBACK")
                    throw Boom()
                }
            })
        }.mapValues { $0 == nil }
        let stored = try await database.write { db in try db.query("SELECT v FROM t").compactMap { $0.integer(0) } }
        #expect(Set(stored) == Set(outcomes.filter(\.value).keys))
        #expect(outcomes[100] == false)
    }

    @Test("text binds as itself: empty, small, long, non-ASCII, with a NUL inside")
    func textBindings() async throws {
        let texts = ["", "messi", String(repeating: "panjang ", count: 40), "ünïcode 😀 teks", "a\u{0}b"]
        let echoed = try await store.database.write { db in
            try texts.map { text in try db.query("SELECT ?, typeof(?1), length(CAST(?1 AS BLOB))", [.text(text)]).first }
        }
        for (text, row) in zip(texts, echoed) {
            #expect(row?.text(0) == text)
            #expect(row?.text(1) == "text")
            #expect(row?.integer(2) == Int64(text.utf8.count))
        }
    }

    @Test("a unit of one change runs without a savepoint: its failed statement leaves none of its rows")
    func singleChangeUnitIsAtomic() async throws {
        let database = store.database
        try await database.write { db in
            try db.execute("CREATE TABLE u (v INTEGER UNIQUE)")
            try db.execute("INSERT INTO u (v) VALUES (5)")
        }
        await #expect(throws: SQLiteError.self) {
            try await database.write(changes: .oneStatement) { db in try db.execute("INSERT INTO u (v) VALUES (1), (2), (5), (6)") }
        }
        try await database.write(changes: .oneStatement) { db in try db.execute("INSERT INTO u (v) VALUES (7)") }
        let rows = try await database.write { db in try db.query("SELECT v FROM u ORDER BY v").compactMap { $0.integer(0) } }
        #expect(rows == [5, 7])
    }

    @Test("a unit that promised one change and makes two is refused, and its first change is not committed")
    func secondChangeIsRefused() async throws {
        let database = store.database
        try await database.write { db in try db.execute("CREATE TABLE t (v INTEGER)") }
        let outcomes = await writeConcurrently(200) { index in
            (index == 100 ? .oneStatement : .anyStatements, { db in
                try db.execute("INSERT INTO t (v) VALUES (?)", [.integer(index)])
                if index == 100 { try db.execute("INSERT INTO t (v) VALUES (1000)") }
            })
        }
        let stored = try await database.write { db in try db.query("SELECT v FROM t").compactMap { $0.integer(0) } }
        #expect(Set(stored) == Set(outcomes.filter { $0.value == nil }.keys))
        #expect(outcomes[100]! as? SQLiteError == .secondChange)
        #expect(!stored.contains(100) && !stored.contains(1000))
    }

    @Test("a self-contained unit that throws before changing anything fails alone")
    func selfContainedUnitThrowingFirst() async throws {
        let outcomes = try await writeSelfContainedUnits(throwing: 50, afterItsFirstRow: false)
        #expect(outcomes[50]! is Refused)
        #expect(outcomes.values.compactMap { $0 }.count == 1)
    }

    @Test("a self-contained unit that throws after a change takes its whole transaction with it")
    func selfContainedUnitThrowingLate() async throws {
        let outcomes = try await writeSelfContainedUnits(throwing: 150, afterItsFirstRow: true)
        #expect(outcomes[150]! is Refused)
        let others = outcomes.filter { $0.key != 150 }.values.compactMap { $0 }
        #expect(others.allSatisfy { $0 as? SQLiteError == .rolledBackByAnotherUnit })
    }

    struct Refused: Error {}

    /// Writes 200 concurrent ``UnitChanges/selfContained`` units, each keeping two rows (each
    /// a statement of its own), except that unit `failing` throws (before its first row or
    /// after it); checks that exactly the rows of the units that succeeded are stored.
    /// - Returns: each unit's error, nil where it succeeded.
    func writeSelfContainedUnits(throwing failing: Int64, afterItsFirstRow: Bool) async throws -> [Int64: (any Error)?] {
        let database = store.database
        try await database.write { db in try db.execute("CREATE TABLE s (v INTEGER)") }
        let outcomes = await writeConcurrently(200) { index in
            (.selfContained, { db in
                if index == failing && !afterItsFirstRow { throw Refused() }
                try db.execute("INSERT INTO s (v) VALUES (?)", [.integer(index)])
                if index == failing { throw Refused() }
                try db.execute("INSERT INTO s (v) VALUES (?)", [.integer(index + 1_000)])
            })
        }
        let stored = try await database.write { db in try db.query("SELECT v FROM s").compactMap { $0.integer(0) } }
        let succeeded = Set(outcomes.filter { $0.value == nil }.keys)
        #expect(stored.sorted() == (succeeded.sorted() + succeeded.sorted().map { $0 + 1_000 }))
        return outcomes
    }

    /// Writes `count` units of work at once (so that many share a batch), unit `index`
    /// described by `unit(index)`. - Returns: each unit's error, nil where it committed.
    func writeConcurrently(
        _ count: Int64,
        _ unit: @escaping @Sendable (Int64) -> (UnitChanges, @Sendable (SQLiteConnection) throws -> Void)
    ) async -> [Int64: (any Error)?] {
        let database = store.database
        return await withTaskGroup(of: (Int64, (any Error)?).self) { group in
            for index in 0..<count {
                group.addTask {
                    let (changes, body) = unit(index)
                    do {
                        try await database.write(changes: changes, body)
                        return (index, nil)
                    } catch {
                        return (index, error)
                    }
                }
            }
            var outcomes: [Int64: (any Error)?] = [:]
            for await (index, error) in group { outcomes[index] = error }
            return outcomes
        }
    }

    @Test("a full database: every delivery reported stored is stored, and no refused one is")
    func fullDatabase() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let now = self.now
        let store = self.store
        // Room for a few dozen 2 KiB messages, then SQLITE_FULL in the middle of a batch.
        try await store.database.write { db in
            let pages = try db.query("PRAGMA page_count").first?.integer(0) ?? 0
            _ = try db.query("PRAGMA max_page_count = \(pages + 20)")
        }
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
            for index in 0..<300 {
                group.addTask {
                    let text = "m\(index)-" + String(repeating: "x", count: 2_000)
                    let stored = (try? await store.deliver(text, from: messi, to: [henderson.username], at: now)) != nil
                    return (text, stored)
                }
            }
            var outcomes: [String: Bool] = [:]
            for await (text, stored) in group { outcomes[text] = stored }
            return outcomes
        }
        let reportedStored = Set(outcomes.filter(\.value).keys)
        #expect(reportedStored.count < 300, "the database never filled up")
        #expect(!reportedStored.isEmpty)
        let inDatabase = try await store.database.write { db in
            try db.query("SELECT body FROM messages").compactMap { $0.text(0) }
        }
        #expect(Set(inDatabase) == reportedStored)
        #expect(inDatabase.count == reportedStored.count)
    }

    @Test("reopened, the file records its schema version and stays in WAL mode")
    func reopen() async throws {
        await store.close()
        let reopened = try SQLiteChatStore(path: path)
        let version = try await reopened.database.write { db in try db.query("PRAGMA user_version").first?.integer(0) }
        #expect(version == Int64(SQLiteSchema.migrations.count))
        let mode = try await reopened.database.write { db in try db.query("PRAGMA journal_mode").first?.text(0) }
        #expect(mode == "wal")
        await reopened.close()
    }

    @Test("a file written before conversations were looked up (schema 2) keeps its conversations, newest first")
    func conversationsMigrated() async throws {
        // messi ↔ henderson, then lineker → messi, then henderson → messi again.
        let older = try await olderFile(
            schema: 2,
            users: ["messi", "henderson", "lineker"],
            messages: [("messi", 2, "a"), ("henderson", 1, "b"), ("lineker", 1, "c"), ("henderson", 1, "d")]
        )
        let upgraded = try SQLiteChatStore(path: older)
        let messi = try #require(try await upgraded.user(named: Username("messi")!))
        let henderson = try #require(try await upgraded.user(named: Username("henderson")!))
        let summaries = try await upgraded.conversations(of: messi)
        #expect(summaries.map(\.peer.username) == ["henderson", "lineker"])
        #expect(summaries.map(\.last.text) == ["d", "c"])
        #expect(summaries.map(\.unread) == [2, 1])
        // Sending goes on recording conversations: a new pair, and an old one moving up.
        #expect(try await upgraded.deliver("e", from: messi, to: [Username("lineker")!], at: now) != nil)
        #expect(try await upgraded.conversations(of: messi).map(\.peer.username) == ["lineker", "henderson"])
        #expect(try await upgraded.conversations(of: henderson).map(\.last.text) == ["d"])
        let lineker = try #require(try await upgraded.user(named: Username("lineker")!))
        #expect(try await upgraded.conversations(of: lineker).map(\.last.text) == ["e"])
        await upgraded.close()
    }

    @Test("a file written with AUTOINCREMENT ids (schema 3) keeps its messages and ids, and never gives an id again, also one whose message was deleted")
    func messageIDsMigrated() async throws {
        let older = try await olderFile(
            schema: 3,
            users: ["messi", "henderson"],
            messages: [("messi", 2, "a"), ("henderson", 1, "b"), ("messi", 2, "c"), ("henderson", 1, "d")]
        ) { db in
            try db.execute("DELETE FROM messages WHERE body = 'd'")  // the newest, id 4
        }
        let upgraded = try SQLiteChatStore(path: older)
        let messi = try #require(try await upgraded.user(named: Username("messi")!))
        let henderson = try #require(try await upgraded.user(named: Username("henderson")!))
        #expect(try await upgraded.takeUnreadMessages(for: henderson.id, at: now).map { "\($0.id) \($0.text)" } == ["1 a", "3 c"])
        #expect(try await upgraded.takeUnreadMessages(for: messi.id, at: now).map { "\($0.id) \($0.text)" } == ["2 b"])
        #expect(try await upgraded.deliver("e", from: messi, to: [henderson.username], at: now)?.first?.id == 5)
        await upgraded.close()
    }

    @Test("a file with an index of unread messages (schema 4) finds the same unread messages without it, and each conversation starts at its first")
    func unreadIndexMigrated() async throws {
        // henderson gets 1 a, 3 c, 4 d, 6 f from messi and 5 e from lineker; messi gets 2 b.
        let older = try await olderFile(
            schema: 4,
            users: ["messi", "henderson", "lineker"],
            messages: [("messi", 2, "a"), ("henderson", 1, "b"), ("messi", 2, "c"), ("messi", 2, "d"), ("lineker", 2, "e"), ("messi", 2, "f")]
        ) { db in
            // Read: a and d (a hole between unread ones), and b, the only message to messi.
            try db.execute("UPDATE messages SET read_at = received_at WHERE body IN ('a', 'd', 'b')")
        }
        let upgraded = try SQLiteChatStore(path: older)
        let starts = try await upgraded.database.write { db in
            try db.query("SELECT user_id, peer_username, unread_from FROM conversation_peers ORDER BY user_id, peer_username")
                .map { "\($0.integer(0) ?? 0) \($0.text(1) ?? "") \($0.integer(2) ?? 0)" }
        }
        // henderson's conversations start at c and e. The file's messages were written
        // without the store, so it had no conversation rows: the migration added those of
        // the unread messages (messi, whose only message is read, has none to walk).
        #expect(starts == ["2 lineker 5", "2 messi 3"])
        let messi = try #require(try await upgraded.user(named: Username("messi")!))
        let henderson = try #require(try await upgraded.user(named: Username("henderson")!))
        #expect(try await upgraded.conversations(of: henderson).map(\.unread) == [2, 1])
        #expect(try await upgraded.takeUnreadMessages(for: henderson.id, at: now).map(\.text) == ["c", "e", "f"])
        #expect(try await upgraded.takeUnreadMessages(for: messi.id, at: now).isEmpty)
        #expect(try await upgraded.deliver("g", from: henderson, to: [messi.username], at: now) != nil)
        #expect(try await upgraded.takeUnreadMessages(for: messi.id, at: now).map(\.text) == ["g"])
        let indexes = try await upgraded.database.write { db in
            try db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'").compactMap { $0.text(0) }
        }
        #expect(indexes == ["messages_conversation"])
        await upgraded.close()
    }

    @Test("an ack moves its conversation's start past the read messages at its front, and no further than the oldest unread one")
    func ackMovesConversationStart() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        var ids: [Int64] = []
        for index in 0..<6 {
            ids += try #require(try await store.deliver("m\(index)", from: messi, to: [henderson.username], at: now)).map(\.id)
        }
        func start() async throws -> Int64? {
            try await store.database.write { db in
                try db.query("SELECT unread_from FROM conversation_peers WHERE user_id = ? AND peer_username = 'messi'", [.integer(henderson.id)])
                    .first?.integer(0)
            }
        }
        #expect(try await start() == 0)
        #expect(try await store.markRead([ids[1], ids[2]], for: henderson.id, at: now) == 2)
        #expect(try await start() == ids[0])  // m0 is still unread
        #expect(try await store.markRead([ids[0]], for: henderson.id, at: now) == 1)
        #expect(try await start() == ids[3])
        #expect(try await store.markRead([ids[5], ids[3], ids[4]], for: henderson.id, at: now) == 3)
        #expect(try await start() == ids[5] + 1)
        #expect(try await store.unreadMessages(for: henderson.id).messages.isEmpty)
        let later = try #require(try await store.deliver("m6", from: messi, to: [henderson.username], at: now))
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.id) == later.map(\.id))
        #expect(try await start() == later[0].id + 1)
    }

    /// SQLite's plan for `sql` with `values` bound, its steps one per line.
    static func plan(of sql: String, _ values: [SQLiteValue], on db: SQLiteConnection) throws -> String {
        try db.query("EXPLAIN QUERY PLAN " + sql, values).compactMap { $0.text(3) }.joined(separator: "\n")
    }

    /// Closes the test's store and writes another file, `older.sqlite`, with the first
    /// `schema` migrations only: the users (ids 1, 2, … in order, each named after its
    /// username), the messages (sender, recipient id, text; in order, so ids 1, 2, …), then
    /// whatever `andThen` does. - Returns: its path.
    func olderFile(
        schema version: Int,
        users: [String],
        messages: [(sender: String, recipient: Int64, text: String)],
        andThen: @escaping @Sendable (SQLiteConnection) throws -> Void = { _ in }
    ) async throws -> String {
        await store.close()
        let older = directory + "/older.sqlite"
        let database = try SQLiteDatabase(path: older, migrations: Array(SQLiteSchema.migrations.prefix(version)))
        try await database.write { db in
            for (index, name) in users.enumerated() {
                try db.execute(
                    "INSERT INTO users (id, username, name, country, password_hash, created_at) VALUES (?, ?, ?, 'C', '$scrypt$x', 0)",
                    [.integer(Int64(index + 1)), .text(name), .text(name.capitalized)]
                )
            }
            for (sender, recipient, text) in messages {
                try db.execute(
                    "INSERT INTO messages (sender_username, sender_name, recipient_id, body, received_at) VALUES (?, ?, ?, ?, 0)",
                    [.text(sender), .text(sender.capitalized), .integer(recipient), .text(text)]
                )
            }
            try andThen(db)
        }
        await database.close()
        return older
    }

    @Test("writes after close fail cleanly")
    func closed() async throws {
        await store.close()
        await #expect(throws: SQLiteError.self) { try await store.allUsers() }
    }
}

/// Tells looping tasks to end.
private final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Keeps a database's worker busy: each unit inserts 1,000 rows and hands in the next as
/// it finishes, until stopped.
private struct LoadChain: Sendable {
    let database: SQLiteDatabase
    let stop: StopFlag

    func next() {
        guard !stop.isSet else { return }
        database.submit({ db in
            try db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) INSERT INTO load SELECT x FROM c")
        }, completion: { _ in next() })
    }
}

extension SQLiteChatStoreTests {
    @Test("history and conversations are answered from indexes, not a scan of the messages")
    func queryPlans() async throws {
        let plans = try await store.database.write { db in
            [
                try Self.plan(of: SQLiteChatStore.historyQuery, Array(repeating: .integer(1), count: 9), on: db),
                try Self.plan(of: SQLiteChatStore.conversationsQuery, [.text("messi"), .integer(1)], on: db),
            ]
        }
        print(plans.joined(separator: "\n---\n"))
        #expect(plans[0].components(separatedBy: "USING INDEX messages_conversation").count - 1 == 2)
        // Each direction's last message is one seek at the end of its range.
        #expect(plans[1].contains("SEARCH c USING PRIMARY KEY (user_id=?)"), "\(plans[1])")
        #expect(plans[1].components(separatedBy: "USING COVERING INDEX messages_conversation (recipient_id=? AND sender_username=?)").count - 1 == 2, "\(plans[1])")
        for plan in plans { #expect(!plan.contains("SCAN m ") && !plan.contains("SCAN messages"), "\(plan)") }
    }
}

extension SQLiteChatStoreTests {
    /// SQLite prepares a statement again, on its next step, when a value bound to it may
    /// change its plan and a new one is bound (an `ORDER BY` over the partial index of
    /// unread messages, a `LIMIT ?`): every inbox did, parsing and planning its query anew.
    @Test("every statement is prepared once: the requests of different users, limits and pages plan nothing again")
    func statementsPreparedOnce() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        let users = [messi, henderson, lineker]
        for (index, user) in users.enumerated() {
            let token = SessionToken.random()
            _ = try await store.insertSession(tokenHash: TokenHash(token), userID: user.id, at: now)
            _ = try await store.session(tokenHash: TokenHash(token), at: now, idleLimit: .seconds(3600))
            _ = try await store.liveSessionIDs(among: [Int64(index + 1)], at: now, idleLimit: .seconds(3600))
        }
        func requests(round: Int) async throws {
            for (index, user) in users.enumerated() {
                let peer = users[(index + 1) % users.count]
                #expect(try await store.deliver("r\(round)", from: user, to: [peer.username, user.username], at: now) != nil)
                _ = try await store.unreadMessages(for: peer.id)
                let taken = try await store.takeUnreadMessages(for: peer.id, at: now)
                _ = try await store.markRead(taken.map(\.id), for: peer.id, at: now)
                _ = try await store.history(of: user, with: peer.username, limit: 1 + round, before: round == 0 ? nil : Int64(100 + index))
                _ = try await store.history(of: user, with: user.username, limit: 5 + round, before: nil)
                _ = try await store.conversations(of: user)
            }
        }
        // The first round prepares every statement (and those prepared before the schema
        // was migrated, once more); later rounds must not prepare any of them again.
        try await requests(round: 0)
        let before = try await store.database.write { db in db.repreparations }
        for round in 1...3 { try await requests(round: round) }
        let after = try await store.database.write { db in db.repreparations }
        #expect(after.count > 10, "the statements of every kind of request were prepared")
        let preparedAgain = after.filter { sql, count in count > before[sql, default: 0] }
        #expect(preparedAgain.isEmpty, "prepared again: \(preparedAgain)")
    }
}
