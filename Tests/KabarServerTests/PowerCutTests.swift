import Foundation
import KabarCore
import KabarCrashDisk
import KabarProtocol
import KabarServer
@testable import KabarSQLite
import KabarTestSupport
import Testing

extension SimulatedDiskSuites {
    /// "An OK means the message survives a crash", proven against the crash that SIGKILL
    /// cannot show: a power cut, which loses whatever no sync made durable. The store runs
    /// on a simulated disk (the `kabar-crash` VFS of `KabarCrashDisk`) under a real server
    /// with 20 connections sending back to back and one reading its inbox; at a random moment
    /// the power is cut, and the database the disk may hold afterwards is opened and checked.
    ///
    /// Every cut is replayed by its seed: set `KABAR_POWER_CUT_SEED` to the seed a failure
    /// printed.
    @Suite("Power cuts", .serialized)
    struct PowerCutTests {
        static let senders = 20
        /// How many cuts a test makes: all of them normally, a quarter in the run under the
        /// thread sanitizer (`KABAR_TEST_TIME_SCALE=4`), whose every cut takes ten times longer.
        static func cuts(_ count: Int) -> Int { max(12, Int(Double(count) / testTimeScale)) }

        @Test("200 power cuts under load, durability full: the file is intact; every acknowledged send, read and session is there, once")
        func fullDurability() async throws {
            try await cutRepeatedly(Self.cuts(200), durability: .full) { result, failure in
                #expect(result.lostSends.isEmpty, "\(failure): acknowledged sends lost: \(result.lostSends.prefix(5))")
                #expect(result.undoneReads.isEmpty, "\(failure): acknowledged reads undone: \(result.undoneReads.prefix(5))")
                #expect(result.lostSessions == 0, "\(failure): \(result.lostSessions) acknowledged sessions lost")
                #expect(result.lostUsers.isEmpty, "\(failure): users lost: \(result.lostUsers)")
                return result.lostSends.isEmpty && result.undoneReads.isEmpty && result.lostSessions == 0
            }
        }

        @Test("50 power cuts under load, durability normal: the last commits may be lost, nothing is corrupted or doubled")
        func normalDurability() async throws {
            try await cutRepeatedly(Self.cuts(50), durability: .normal) { _, _ in true }
        }

        /// Runs `count` seeded cycles, checks what every durability promises (an intact file,
        /// nothing doubled, nothing never sent) and then `check`, stopping at the first cycle
        /// that fails; prints the totals.
        ///
        /// - Parameter check: the durability's own promises; returns false to stop.
        private func cutRepeatedly(
            _ count: Int,
            durability: SQLiteDurability,
            check: (CycleResult, String) -> Bool
        ) async throws {
            let seed = Self.seed()
            var totals = CycleTotals()
            for cycle in 0..<count {
                let cycleSeed = seed &+ UInt64(cycle) &* 0x9E37_79B9_7F4A_7C15
                let result = try await Self.runCycle(durability: durability, seed: cycleSeed)
                let failure = "seed \(seed), cycle \(cycle) (cycle seed \(cycleSeed))"
                #expect(result.integrity == "ok", "\(failure): integrity_check says \(result.integrity)")
                #expect(result.duplicated.isEmpty, "\(failure): stored twice: \(result.duplicated.prefix(5))")
                #expect(result.neverSent.isEmpty, "\(failure): stored but never sent: \(result.neverSent.prefix(5))")
                let intact = result.integrity == "ok" && result.duplicated.isEmpty && result.neverSent.isEmpty
                guard check(result, failure), intact else { return }
                totals.add(result)
            }
            print("power cuts, durability \(durability.rawValue): \(totals.summary)")
        }

        // MARK: - One cycle

        /// What one cut left, compared with what the clients were told.
        struct CycleResult {
            var integrity = ""
            var acknowledgedSends = 0
            var lostSends: [String] = []
            var duplicated: [String] = []
            var neverSent: [String] = []
            var acknowledgedReads = 0
            var undoneReads: [String] = []
            var lostSessions = 0
            var lostUsers: [String] = []
            var cut = kabar_crashdisk_cut_report()
        }

        /// What the clients saw before and after the cut.
        struct LoadOutcome: Sendable {
            var acknowledgedSends: [String] = []
            var attemptedSends: [String] = []
            var acknowledgedReads: [String] = []
            var tokens: [String] = []
        }

        static func runCycle(durability: SQLiteDurability, seed: UInt64) async throws -> CycleResult {
            #expect(kabar_crashdisk_install() == 0)
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let disk = directory + "/disk"
            let afterCut = directory + "/after-cut"
            for path in [disk, afterCut] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
            kabar_crashdisk_track(disk + "/")
            var random = SplitMix64(seed: seed)
            let cutAfterSends = Int(random.next() % 400)
            let cutSeed = random.next()
            // Half the cuts come at a moment of the test's choosing, the others just before
            // one of the next 64 writes or syncs of the disk, which lands them inside commits.
            let cutAtOperation = random.next().isMultiple(of: 2) ? Int(random.next() % 64) + 1 : nil

            let outcome = try await withTestServer(
                databasePath: disk + "/kabar.sqlite",
                openStore: { path in
                    try SQLiteChatStore(
                        database: SQLiteDatabase(path: path, durability: durability, migrations: SQLiteSchema.migrations, vfs: "kabar-crash") { _ in
                            // The flusher's fdatasync of the log, on the simulated disk.
                            guard kabar_crashdisk_sync_file(path + "-wal") == 0 else { throw PowerIsCut() }
                        }
                    )
                },
                configure: { $0.shutdownDrainTime = .zero }
            ) { server in
                try await load(on: server, cutAfterSends: cutAfterSends) {
                    if let cutAtOperation {
                        kabar_crashdisk_arm_cut(afterCut, cutSeed, cutAtOperation)
                        while kabar_crashdisk_power_is_cut() == 0 { try? await Task.sleep(for: .milliseconds(1)) }
                        #expect(kabar_crashdisk_power_is_cut() == 1, "the cut could not write its image")
                    } else {
                        #expect(kabar_crashdisk_cut_power(afterCut, cutSeed) == 0)
                    }
                }
            }
            var result = try await inspect(afterCut + "/kabar.sqlite", against: outcome)
            result.cut = kabar_crashdisk_last_cut()
            return result
        }

        /// Runs the senders and the reader until the power is cut and their requests fail.
        static func load(on server: TestServer, cutAfterSends: Int, cut: @escaping @Sendable () async -> Void) async throws -> LoadOutcome {
            let usernames = (0..<Self.senders).map { $0.isMultiple(of: 2) ? "messi" : "lineker" } + ["henderson"]
            let clients = try await usernames.concurrentMap { username in
                let client = try await server.rawClient()
                return (client, try await client.login(username))
            }
            let senders = clients.dropLast().map(\.0)
            let reader = clients[clients.count - 1].0
            let tokens = clients.map(\.1)
            let acknowledged = Locked(0)
            let isCut = Locked(false)

            var outcome = LoadOutcome(tokens: tokens)
            await withTaskGroup(of: LoadOutcome.self) { group in
                for (index, sender) in senders.enumerated() {
                    group.addTask {
                        var outcome = LoadOutcome()
                        for number in 0... {
                            let text = "s\(index)-\(number)"
                            outcome.attemptedSends.append(text)
                            guard (try? await sender.request("send henderson \(text)")) == Expected.messageSent else { break }
                            outcome.acknowledgedSends.append(text)
                            acknowledged.withLock { $0 += 1 }
                        }
                        await sender.close()
                        return outcome
                    }
                }
                group.addTask {
                    var outcome = LoadOutcome()
                    while let reply = try? await reader.request("inbox"), reply.hasPrefix("{\"status\": \"OK\"") {
                        outcome.acknowledgedReads += messageTexts(in: reply)
                        if isCut.withLock({ $0 }) { break }
                    }
                    await reader.close()
                    return outcome
                }
                group.addTask {
                    while acknowledged.withLock({ $0 }) < cutAfterSends { try? await Task.sleep(for: .milliseconds(1)) }
                    await cut()
                    isCut.withLock { $0 = true }
                    return LoadOutcome()
                }
                for await part in group {
                    outcome.acknowledgedSends += part.acknowledgedSends
                    outcome.attemptedSends += part.attemptedSends
                    outcome.acknowledgedReads += part.acknowledgedReads
                }
            }
            return outcome
        }

        /// Opens the database the disk held after the cut, as the server does when it starts
        /// again (migrations included: with `normal` durability even the schema may be lost),
        /// and compares it with what the clients were told.
        static func inspect(_ path: String, against outcome: LoadOutcome) async throws -> CycleResult {
            var result = CycleResult()
            result.acknowledgedSends = outcome.acknowledgedSends.count
            result.acknowledgedReads = outcome.acknowledgedReads.count
            let integrity = try inspectFile(path) { connection in
                try connection.query("PRAGMA integrity_check").compactMap { $0.text(0) }.joined(separator: "; ")
            }
            result.integrity = integrity
            guard integrity == "ok" else { return result }
            let store = try SQLiteChatStore(path: path, durability: .normal)
            let (stored, sessionHashes, usernames) = try await store.database.write { connection in
                var stored: [String: Message] = [:]
                for row in try connection.query("SELECT body, read_at IS NOT NULL FROM messages") {
                    guard let body = row.text(0) else { continue }
                    stored[body, default: Message()].count += 1
                    stored[body]?.isRead = row.integer(1) == 1
                }
                let sessionHashes = Set(try connection.query("SELECT token_hash FROM sessions").compactMap { $0.blob(0) })
                let usernames = Set(try connection.query("SELECT username FROM users").compactMap { $0.text(0) })
                return (stored, sessionHashes, usernames)
            }
            await store.close()
            result.lostSends = outcome.acknowledgedSends.filter { stored[$0] == nil }
            result.duplicated = stored.filter { $0.value.count > 1 }.map(\.key)
            let attempted = Set(outcome.attemptedSends)
            result.neverSent = stored.keys.filter { !attempted.contains($0) }
            result.undoneReads = outcome.acknowledgedReads.filter { stored[$0]?.isRead != true }

            result.lostSessions = outcome.tokens.filter { token in
                SessionToken(token).map { !sessionHashes.contains(TokenHash($0).bytes) } ?? true
            }.count
            result.lostUsers = ["messi", "henderson", "lineker"].filter { !usernames.contains($0) }
            return result
        }

        /// A stored message's copies and read state.
        struct Message: Sendable {
            var count = 0
            var isRead = false
        }

        /// Runs `body` on a plain connection to the file, before anything else opens it.
        static func inspectFile<T>(_ path: String, _ body: (SQLiteConnection) throws -> T) throws -> T {
            let connection = try SQLiteConnection(path: path)
            defer { connection.close() }
            return try body(connection)
        }

        static func seed() -> UInt64 {
            ProcessInfo.processInfo.environment["KABAR_POWER_CUT_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        }
    }
}

/// The texts of the messages in an `inbox` reply.
private func messageTexts(in reply: String) -> [String] {
    reply.components(separatedBy: "\"msg\": \"").dropFirst().compactMap { $0.split(separator: "\"", maxSplits: 1).first.map(String.init) }
}

/// The flusher's error once the simulated disk has no power.
struct PowerIsCut: Error {}

/// Totals over many cuts, for the summary line.
struct CycleTotals {
    var cuts = 0
    var acknowledgedSends = 0
    var lostSends = 0
    var mostLostInOneCut = 0
    var acknowledgedReads = 0
    var undoneReads = 0
    var lostSessions = 0
    var cutsThatLostUsers = 0
    var unsyncedPages = 0
    var pagesLost = 0
    var pagesTorn = 0
    var filesLost = 0

    mutating func add(_ result: SimulatedDiskSuites.PowerCutTests.CycleResult) {
        cuts += 1
        acknowledgedSends += result.acknowledgedSends
        lostSends += result.lostSends.count
        mostLostInOneCut = max(mostLostInOneCut, result.lostSends.count)
        acknowledgedReads += result.acknowledgedReads
        undoneReads += result.undoneReads.count
        lostSessions += result.lostSessions
        cutsThatLostUsers += result.lostUsers.isEmpty ? 0 : 1
        unsyncedPages += result.cut.unsynced_pages
        pagesLost += result.cut.pages_lost
        pagesTorn += result.cut.pages_torn
        filesLost += result.cut.files_lost
    }

    var summary: String {
        "\(cuts) cuts; \(acknowledgedSends) acknowledged sends, \(lostSends) lost (at most \(mostLostInOneCut) in one cut); "
            + "\(acknowledgedReads) acknowledged reads, \(undoneReads) undone; \(lostSessions) acknowledged sessions lost; "
            + "\(cutsThatLostUsers) cuts lost users; at the cuts \(unsyncedPages) unsynced pages: \(pagesLost) lost, "
            + "\(pagesTorn) torn; \(filesLost) new files lost"
    }
}
