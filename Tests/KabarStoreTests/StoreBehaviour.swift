import Foundation
import KabarCore
import KabarProtocol
import KabarTestSupport
import Testing

// MARK: - StoreBehaviour

/// What every ``ChatStore`` must do, written once and checked on each store
/// (`SQLiteConformanceTests`, `PostgresConformanceTests`).
enum StoreBehaviour: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case users = "users: unique names, listing, removal cascades to sessions and inbox"
    case sessions = "sessions: found by hash, touched when used, deleted once expired"
    case passwordChange = "a new password ends the user's sessions"
    case messages = "deliver is all or nothing; inbox returns unread in order and marks them read without deleting"
    case burst = "a burst of deliveries: each message all or nothing on its own, outcomes and ids in order"
    case inboxAfterReads = "unread messages after read ones: an inbox returns only the newest, unread part"
    case unreadAgainstModel = "unread state through random sends, acks in any order, snapshots and inbox reads: as a list in memory keeps it"
    case racingReaders = "concurrent inbox readers get disjoint messages, and every message once"
    case idsInCommitOrder = "concurrent sends: ids unique, each send's ids in recipient order, every message once"
    case racingRemoval = "a user removed while others send to them and to someone else: each send stored whole or not at all"
    case removal = "removing a user deletes their messages and no one else's"
    case texts = "text stored as itself: small, long, non-ASCII, with a NUL inside"
    case unreadSnapshot = "live-delivery queries: unread snapshot with the last committed id; ack marks only one's own unread"
    case history = "history: both directions, newest LIMIT below BEFORE_ID, oldest first, read state kept; paging edges"
    case conversations = "conversations: one per peer, most recent first, unread counts, the last message either way"
    case reopen = "reopening keeps everything"

    var testDescription: String { rawValue }

    static let now = Timestamp(milliseconds: 1_700_000_000_000)

    func check(on harness: StoreHarness) async throws {
        let checks = StoreChecks(harness: harness)
        switch self {
        case .users: try await checks.users()
        case .sessions: try await checks.sessions()
        case .passwordChange: try await checks.passwordChange()
        case .messages: try await checks.messages()
        case .burst: try await checks.burst()
        case .inboxAfterReads: try await checks.inboxAfterReads()
        case .unreadAgainstModel: try await checks.unreadAgainstModel()
        case .racingReaders: try await checks.racingReaders()
        case .idsInCommitOrder: try await checks.idsInCommitOrder()
        case .racingRemoval: try await checks.racingRemoval()
        case .removal: try await checks.removal()
        case .texts: try await checks.texts()
        case .unreadSnapshot: try await checks.unreadSnapshot()
        case .history: try await checks.history()
        case .conversations: try await checks.conversations()
        case .reopen: try await checks.reopen()
        }
    }
}

/// The checks, each on a fresh store.
private struct StoreChecks {
    let harness: StoreHarness
    var store: any ChatStore { harness.store }
    let now = StoreBehaviour.now

    func addUser(_ name: String) async throws -> UserRecord {
        let username = Username(name)!
        let profile = Profile(name: name.capitalized, country: "C")!
        #expect(try await store.insertUser(NewUser(username: username, profile: profile, passwordHash: "$scrypt$x")))
        return try #require(try await store.user(named: username))
    }

    func users() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        #expect(try await !store.insertUser(NewUser(username: Username("messi")!, profile: messi.profile, passwordHash: "$scrypt$y")))
        #expect(try await store.allUsers().map(\.username.text) == ["henderson", "messi"])
        let hash = TokenHash(SessionToken.random())
        _ = try await store.insertSession(tokenHash: hash, userID: henderson.id, at: now)
        #expect(try await store.deliver("hi", from: messi, to: [henderson.username], at: now) != nil)
        #expect(try await store.removeUser(named: henderson.username))
        #expect(try await !store.removeUser(named: henderson.username))
        #expect(try await store.session(tokenHash: hash, at: now, idleLimit: .seconds(60)) == nil)
        #expect(try await harness.messageRowCount() == 0)
    }

    func sessions() async throws {
        let messi = try await addUser("messi")
        let token = SessionToken.random()
        let id = try await store.insertSession(tokenHash: TokenHash(token), userID: messi.id, at: now)
        #expect(try await store.session(tokenHash: TokenHash(token), at: now + .seconds(3000), idleLimit: .seconds(3600))?.id == id)
        #expect(try await store.session(tokenHash: TokenHash(token), at: now + .seconds(6000), idleLimit: .seconds(3600))?.user == messi)
        #expect(try await store.liveSessionIDs(among: [id, 999], at: now + .seconds(6000), idleLimit: .seconds(3600)) == [id])
        #expect(try await store.liveSessionIDs(among: [id], at: now + .seconds(9700), idleLimit: .seconds(3600)) == [])
        #expect(try await store.session(tokenHash: TokenHash(token), at: now + .seconds(9700), idleLimit: .seconds(3600)) == nil)
        #expect(try await store.session(tokenHash: TokenHash(token), at: now + .seconds(6000), idleLimit: .seconds(3600)) == nil)
        let other = SessionToken.random()
        _ = try await store.insertSession(tokenHash: TokenHash(other), userID: messi.id, at: now)
        #expect(try await store.deleteSession(tokenHash: TokenHash(other)))
        #expect(try await !store.deleteSession(tokenHash: TokenHash(other)))
    }

    func passwordChange() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let tokens = (0..<3).map { _ in SessionToken.random() }
        for token in tokens { _ = try await store.insertSession(tokenHash: TokenHash(token), userID: messi.id, at: now) }
        let theirs = SessionToken.random()
        _ = try await store.insertSession(tokenHash: TokenHash(theirs), userID: henderson.id, at: now)
        #expect(try await store.replacePasswordHash(of: messi.username, with: "$scrypt$new"))
        #expect(try await !store.replacePasswordHash(of: Username("nobody")!, with: "$scrypt$new"))
        for token in tokens { #expect(try await store.session(tokenHash: TokenHash(token), at: now, idleLimit: .seconds(60)) == nil) }
        #expect(try await store.session(tokenHash: TokenHash(theirs), at: now, idleLimit: .seconds(60)) != nil)
        #expect(try await store.user(named: messi.username)?.passwordHash == "$scrypt$new")
    }

    func burst() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        let nobody = Username("nobody")!
        func message(_ text: String, from sender: UserRecord, to recipients: [Username]) -> OutgoingMessage {
            OutgoingMessage(text: text, sender: sender, recipients: recipients, origin: nil)
        }
        let outcomes = try await store.deliver(
            [
                message("b1", from: messi, to: [henderson.username]),
                message("lost", from: messi, to: [nobody]),
                message("b2", from: lineker, to: [henderson.username, messi.username]),
                message("lost too", from: messi, to: [lineker.username, nobody]),
                message("b3", from: messi, to: [henderson.username]),
            ],
            at: now
        )
        let stored = try outcomes.map { try $0.get() }
        #expect(stored.map { $0?.map(\.text) } == [["b1"], nil, ["b2", "b2"], nil, ["b3"]])
        #expect(stored[2]?.map(\.to) == ["henderson", "messi"])
        #expect(stored[2]?.map(\.fromName) == ["Lineker", "Lineker"])
        let ids = stored.compactMap { $0 }.flatMap { $0 }.map(\.id)
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.text) == ["b1", "b2", "b3"])
        #expect(try await store.takeUnreadMessages(for: messi.id, at: now).map(\.text) == ["b2"])
        #expect(try await store.takeUnreadMessages(for: lineker.id, at: now).isEmpty)
        // Who talked to whom, for every message stored, whatever came before it in the burst.
        func peers(of user: UserRecord) async throws -> Set<String> {
            Set(try await store.conversations(of: user).map(\.peer.username))
        }
        #expect(try await peers(of: messi) == ["henderson", "lineker"])
        #expect(try await peers(of: henderson) == ["messi", "lineker"])
        #expect(try await peers(of: lineker) == ["henderson", "messi"])
        _ = try await store.deliver(
            [
                message("again", from: henderson, to: [messi.username]),
                message("lost", from: henderson, to: [nobody]),
                message("again", from: henderson, to: [messi.username]),
                message("new", from: henderson, to: [lineker.username]),
                message("new", from: henderson, to: [lineker.username]),
            ],
            at: now
        )
        #expect(try await peers(of: henderson) == ["messi", "lineker"])
        #expect(try await peers(of: lineker) == ["henderson", "messi"])
        _ = try await store.takeUnreadMessages(for: messi.id, at: now)
        _ = try await store.takeUnreadMessages(for: lineker.id, at: now)

        #expect(try await store.deliver([], at: now).isEmpty)
        let alone = try await store.deliver([message("alone", from: henderson, to: [lineker.username, messi.username])], at: now)
        #expect(try alone.map { try $0.get()?.map(\.to) } == [["lineker", "messi"]])
        let lostAlone = try await store.deliver([message("lost", from: henderson, to: [lineker.username, nobody])], at: now)
        #expect(try lostAlone.map { try $0.get() == nil } == [true])
        #expect(try await store.takeUnreadMessages(for: lineker.id, at: now).map(\.text) == ["alone"])
    }

    func messages() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        #expect(try await store.deliver("lost", from: messi, to: [henderson.username, Username("nobody")!], at: now) == nil)
        let one = try #require(try await store.deliver("one", from: messi, to: [henderson.username, lineker.username], at: now))
        #expect(one.map(\.to) == ["henderson", "lineker"])
        #expect(one.map(\.toName) == ["Henderson", "Lineker"])
        #expect(one[1].id > one[0].id)
        #expect(try await store.deliver("two", from: lineker, to: [henderson.username], at: now + .seconds(1)) != nil)
        let inbox = try await store.takeUnreadMessages(for: henderson.id, at: now + .seconds(2))
        #expect(inbox.map(\.text) == ["one", "two"])
        #expect(inbox.map(\.from) == ["messi", "lineker"])
        #expect(inbox.map(\.fromName) == ["Messi", "Lineker"])
        #expect(inbox.allSatisfy { $0.toName == "Henderson" && $0.to == "henderson" })
        #expect(inbox.map(\.timeMilliseconds) == [now.milliseconds, now.milliseconds + 1000])
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now + .seconds(3)).isEmpty)
        #expect(try await store.takeUnreadMessages(for: lineker.id, at: now).map(\.text) == ["one"])
        #expect(try await harness.messageRowCount() == 3)
    }

    func inboxAfterReads() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        for round in 0..<3 {
            for index in 0..<4 {
                #expect(try await store.deliver("r\(round)-\(index)", from: messi, to: [henderson.username], at: now) != nil)
            }
            let inbox = try await store.takeUnreadMessages(for: henderson.id, at: now)
            #expect(inbox.map(\.text) == (0..<4).map { "r\(round)-\($0)" })
        }
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).isEmpty)
    }

    /// Acks mark single messages read in any order, leaving unread ones between read ones
    /// in a conversation; a store that finds unread messages from where a conversation's
    /// read part ends must still find every one of them, and only them.
    func unreadAgainstModel() async throws {
        let users = try await [addUser("messi"), addUser("henderson"), addUser("lineker"), addUser("kane")]
        var random = SplitMix64(seed: 14)
        var unread: [Int64: (to: Int64, from: String, text: String)] = [:]
        var sent: [Int64] = []
        for step in 0..<400 {
            let user = users[Int(random.next() % 4)]
            switch random.next() % 10 {
            case 0..<5:
                // One message, or a burst of three, to one or two users.
                let count = random.next() % 3 == 0 ? 3 : 1
                let outgoing = (0..<count).map { index in
                    let first = users[Int(random.next() % 4)]
                    let second = users[Int(random.next() % 4)]
                    let recipients = random.next() % 4 == 0 && first.id != second.id ? [first, second] : [first]
                    return OutgoingMessage(text: "s\(step)-\(index)", sender: user, recipients: recipients.map(\.username), origin: nil)
                }
                for outcome in try await store.deliver(outgoing, at: now) {
                    for message in try #require(try outcome.get()) {
                        let recipient = try #require(users.first { $0.username.text == message.to })
                        unread[message.id] = (recipient.id, message.from, message.text)
                        sent.append(message.id)
                    }
                }
            case 5..<7:
                // An ack of a few ids sent to anyone, in any order, some read already.
                let ids = (0..<(1 + random.next() % 4)).compactMap { _ in sent.isEmpty ? nil : sent[Int(random.next() % UInt64(sent.count))] }
                let expected = Set(ids).filter { unread[$0]?.to == user.id }.count
                #expect(try await store.markRead(ids, for: user.id, at: now) == expected, "step \(step)")
                for id in ids where unread[id]?.to == user.id { unread[id] = nil }
            case 7:
                // The subscription's snapshot, and the unread counts by sender.
                let expected = unread.filter { $0.value.to == user.id }.keys.sorted()
                #expect(try await store.unreadMessages(for: user.id).messages.map(\.id) == expected, "step \(step)")
                var bySender: [String: Int] = [:]
                for message in unread.values where message.to == user.id { bySender[message.from, default: 0] += 1 }
                let summaries = try await store.conversations(of: user)
                #expect(summaries.filter { $0.unread > 0 }.count == bySender.count, "step \(step)")
                for summary in summaries { #expect(summary.unread == bySender[summary.peer.username] ?? 0, "step \(step)") }
            default:
                // An inbox: every unread message, oldest first, read from now on.
                let expected = unread.filter { $0.value.to == user.id }.sorted { $0.key < $1.key }
                let inbox = try await store.takeUnreadMessages(for: user.id, at: now)
                #expect(inbox.map(\.id) == expected.map(\.key), "step \(step)")
                #expect(inbox.map(\.text) == expected.map(\.value.text), "step \(step)")
                for message in expected { unread[message.key] = nil }
            }
        }
        for user in users {
            let expected = unread.filter { $0.value.to == user.id }.keys.sorted()
            #expect(try await store.takeUnreadMessages(for: user.id, at: now).map(\.id) == expected)
        }
    }

    func racingReaders() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let (now, store) = (self.now, self.store)
        let received = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for sender in 0..<4 {
                group.addTask {
                    for index in 0..<125 {
                        _ = try await store.deliver("s\(sender)-\(index)", from: messi, to: [henderson.username], at: now)
                    }
                    return []
                }
            }
            for _ in 0..<4 {
                group.addTask {
                    var ids: [Int64] = []
                    for _ in 0..<100 { ids += try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.id) }
                    return ids
                }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all + (try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.id))
        }
        #expect(received.count == 500)
        #expect(Set(received).count == 500)
    }

    func idsInCommitOrder() async throws {
        let users = try await [addUser("messi"), addUser("henderson"), addUser("lineker")]
        let (now, store) = (self.now, self.store)
        let sent = try await withThrowingTaskGroup(of: [[ChatMessage]].self) { group in
            for (index, sender) in users.enumerated() {
                group.addTask {
                    var sent: [[ChatMessage]] = []
                    for round in 0..<100 {
                        let recipients = [users[(index + 1) % 3].username, users[(index + 2) % 3].username]
                        sent.append(try #require(try await store.deliver("\(index)-\(round)", from: sender, to: recipients, at: now)))
                    }
                    return sent
                }
            }
            var all: [[ChatMessage]] = []
            for try await sent in group { all += sent }
            return all
        }
        let ids = sent.flatMap { $0.map(\.id) }
        #expect(Set(ids).count == 600)
        #expect(sent.allSatisfy { $0.count == 2 && $0[0].id < $0[1].id })
        // Each sender's sends got ids in the order they were made.
        for sender in users.map(\.username.text) {
            let theirs = sent.filter { $0[0].from == sender }.map { $0[0].id }
            #expect(theirs == theirs.sorted())
        }
        var inboxIDs: [Int64] = []
        for user in users { inboxIDs += try await store.takeUnreadMessages(for: user.id, at: now).map(\.id) }
        #expect(Set(inboxIDs) == Set(ids))
    }

    func racingRemoval() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        for index in 0..<50 { _ = try await store.deliver("before \(index)", from: messi, to: [lineker.username], at: now) }
        let (now, store) = (self.now, self.store)
        let stored = try await withThrowingTaskGroup(of: Int.self) { group in
            for sender in [messi, henderson] {
                group.addTask {
                    var stored = 0
                    for index in 0..<100 {
                        let messages = try await store.deliver("\(index)", from: sender, to: [henderson.username, lineker.username], at: now)
                        if let messages {
                            #expect(messages.count == 2)
                            stored += 1
                        }
                    }
                    return stored
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(5))
                #expect(try await store.removeUser(named: lineker.username))
                return 0
            }
            return try await group.reduce(0, +)
        }
        // Every send stored whole reached henderson; none of lineker's is left.
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).count == stored)
        #expect(try await harness.messageRowCount() == stored)
    }

    func removal() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        for index in 0..<25 {
            #expect(try await store.deliver("h\(index)", from: messi, to: [henderson.username], at: now) != nil)
            #expect(try await store.deliver("m\(index)", from: henderson, to: [messi.username], at: now) != nil)
        }
        _ = try await store.takeUnreadMessages(for: henderson.id, at: now)  // read ones go too
        #expect(try await store.removeUser(named: henderson.username))
        #expect(try await harness.messageRowCount() == 25)
        #expect(try await store.takeUnreadMessages(for: messi.id, at: now).count == 25)
        #expect(try await store.user(named: henderson.username) == nil)
    }

    func texts() async throws {
        let messi = try await addUser("messi")
        let texts = ["messi", String(repeating: "panjang ", count: 2_000), "ünïcode 😀 teks", "a\u{0}b", "'; DROP TABLE users; --"]
        for text in texts { _ = try await store.deliver(text, from: messi, to: [messi.username], at: now) }
        #expect(try await store.takeUnreadMessages(for: messi.id, at: now).map(\.text) == texts)
    }

    func unreadSnapshot() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let empty = try await store.unreadMessages(for: henderson.id)
        #expect(empty.messages.isEmpty && empty.lastCommittedID == 0)
        var ids: [Int64] = []
        for index in 0..<4 { ids += try #require(try await store.deliver("m\(index)", from: messi, to: [henderson.username], at: now)).map(\.id) }
        let mine = try #require(try await store.deliver("to messi", from: henderson, to: [messi.username], at: now))
        let snapshot = try await store.unreadMessages(for: henderson.id)
        #expect(snapshot.messages.map(\.id) == ids)
        #expect(snapshot.lastCommittedID == mine[0].id)
        #expect(try await store.markRead([ids[1], ids[1], ids[3], mine[0].id, 999_999], for: henderson.id, at: now) == 2)
        #expect(try await store.markRead([ids[1]], for: henderson.id, at: now) == 0)
        #expect(try await store.unreadMessages(for: henderson.id).messages.map(\.id) == [ids[0], ids[2]])
        #expect(try await store.unreadMessages(for: messi.id).messages.map(\.id) == mine.map(\.id))
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.text) == ["m0", "m2"])
    }

    func history() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        var ids: [Int64] = []
        for index in 0..<10 {
            let (from, to) = index.isMultiple(of: 2) ? (messi, henderson) : (henderson, messi)
            ids += try #require(try await store.deliver("m\(index)", from: from, to: [to.username], at: now)).map(\.id)
        }
        _ = try await store.deliver("not in it", from: lineker, to: [messi.username], at: now)
        _ = try await store.markRead([ids[0], ids[1]], for: henderson.id, at: now)  // only ids[0] is to henderson

        let all = try #require(try await store.history(of: messi, with: henderson.username, limit: 50, before: nil))
        #expect(all.map(\.message.text) == (0..<10).map { "m\($0)" })
        #expect(all.map(\.isRead) == [true] + Array(repeating: false, count: 9))
        #expect(all.first?.message.from == "messi" && all.first?.message.toName == "Henderson")
        let newest = try #require(try await store.history(of: henderson, with: messi.username, limit: 3, before: nil))
        #expect(newest.map(\.message.text) == ["m7", "m8", "m9"])
        let page = try #require(try await store.history(of: henderson, with: messi.username, limit: 3, before: ids[7]))
        #expect(page.map(\.message.text) == ["m4", "m5", "m6"])
        #expect(try await store.history(of: messi, with: henderson.username, limit: 1, before: ids[0])?.isEmpty == true)
        #expect(try await store.history(of: lineker, with: henderson.username, limit: 50, before: nil)?.isEmpty == true)
        #expect(try await store.history(of: messi, with: Username("nobody")!, limit: 50, before: nil) == nil)

        _ = try await store.deliver("to myself", from: messi, to: [messi.username], at: now)
        #expect(try await store.history(of: messi, with: messi.username, limit: 50, before: nil)?.map(\.message.text) == ["to myself"])
    }

    func conversations() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let lineker = try await addUser("lineker")
        #expect(try await store.conversations(of: messi).isEmpty)
        _ = try await store.deliver("a", from: henderson, to: [messi.username], at: now)
        _ = try await store.deliver("b", from: henderson, to: [messi.username], at: now)
        _ = try await store.deliver("c", from: messi, to: [lineker.username], at: now)
        _ = try await store.deliver("d", from: messi, to: [henderson.username], at: now)

        let summaries = try await store.conversations(of: messi)
        #expect(summaries.map(\.peer.username) == ["henderson", "lineker"])
        #expect(summaries.map(\.unread) == [2, 0])
        #expect(summaries.map(\.last.text) == ["d", "c"])
        #expect(summaries.first?.peer.name == "Henderson")
        #expect(try await store.conversations(of: lineker).map(\.unread) == [1])
        _ = try await store.takeUnreadMessages(for: messi.id, at: now)
        #expect(try await store.conversations(of: messi).map(\.unread) == [0, 0])
        #expect(try await store.removeUser(named: lineker.username))
        #expect(try await store.conversations(of: messi).map(\.peer.username) == ["henderson"])
    }

    func reopen() async throws {
        let messi = try await addUser("messi")
        let henderson = try await addUser("henderson")
        let token = SessionToken.random()
        let sessionID = try await store.insertSession(tokenHash: TokenHash(token), userID: messi.id, at: now)
        let sent = try #require(try await store.deliver("persist", from: messi, to: [henderson.username], at: now))
        try await harness.reopen()
        #expect(try await store.takeUnreadMessages(for: henderson.id, at: now).map(\.text) == ["persist"])
        #expect(try await store.session(tokenHash: TokenHash(token), at: now, idleLimit: .seconds(60))?.id == sessionID)
        let next = try #require(try await store.deliver("after", from: messi, to: [henderson.username], at: now))
        #expect(next[0].id > sent[0].id)
    }
}
