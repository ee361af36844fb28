import Foundation
import KabarCore
import KabarProtocol
import KabarSQLite
import KabarTestSupport
import Testing

/// PROTOCOL.md, "Live delivery": subscribe, events, ack, through real sockets.
@Suite("Live delivery")
struct LiveDeliveryTests {
    @Test("subscribe replays what is unread, then pushes each new message once; the frames are spelled as documented")
    func replayThenLive() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            #expect(try await messi.request("send henderson satu") == Expected.messageSent)
            #expect(try await messi.request("send henderson dua") == Expected.messageSent)

            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: 2))
            let replay = try await henderson.readFrames(2)
            #expect(replay.map(\.event) == ["message", "message"])
            #expect(replay.map(\.text) == ["satu", "dua"])
            let first = try #require(replay.first?.raw)
            #expect(first.hasPrefix(#"{"status": "OK", "event": "message", "message": {"id": "#))
            #expect(first.contains(#", "from": "messi", "to": "henderson", "msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "satu", "time": ""#))

            #expect(try await messi.request("send henderson tiga") == Expected.messageSent)
            let live = try await henderson.readFrame()
            #expect(live.event == "message" && live.text == "tiga")
            #expect(live.id > replay[1].id)
            // Pushing does not mark read: inbox still returns all three.
            let inbox = try await henderson.request("inbox")
            #expect(Expected.positions(ofMessages: ["satu", "dua", "tiga"], inInbox: inbox).allSatisfy { $0 != nil })
        }
    }

    /// With pipelined sends the store gets bursts, whose messages are published (or not,
    /// while nobody is subscribed) on a path of their own.
    @Test(
        "20 senders as fast as they can, subscribe racing them: every message once, in id order, replay or live",
        arguments: [1, 5]
    )
    func noGapNoDouble(sendsInFlight: Int) async throws {
        let senders = 20
        let perSender = 40
        try await withTestServer { server in
            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            let clients = try await (0..<senders).map { $0 }.concurrentMap { index in
                let client = try await server.rawClient()
                _ = try await client.login(index.isMultiple(of: 2) ? "messi" : "lineker")
                return client
            }
            let sending = Task {
                try await Array(clients.enumerated()).concurrentMap { pair in
                    let (index, client) = pair
                    for first in stride(from: 0, to: perSender, by: sendsInFlight) {
                        let numbers = first..<min(first + sendsInFlight, perSender)
                        try await client.send(numbers.map { "send henderson s\(index)-\($0)\r\n" }.joined())
                        let replies = try await client.readFrames(numbers.count)
                        #expect(replies.map(\.raw) == Array(repeating: Expected.messageSentJSON, count: numbers.count))
                    }
                }
            }
            // Subscribe while the senders are going, once a quarter of their messages is in.
            while try await server.store.unreadCount(of: "henderson") < senders * perSender / 4 {
                try await Task.sleep(for: .milliseconds(1))
            }
            let reply = try await henderson.request("subscribe")
            let unread = try #require(Expected.unread(inSubscribeReply: reply))
            #expect(unread > 0)
            _ = try await sending.value
            let events = try await henderson.readFrames(senders * perSender, timeout: .seconds(30 * testTimeScale))
            #expect(events.allSatisfy { $0.event == "message" })
            let ids = events.map(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "not once each in id order")
            let expected = Set((0..<senders).flatMap { index in (0..<perSender).map { "s\(index)-\($0)" } })
            #expect(Set(events.map(\.text)) == expected)
            #expect(try await henderson.request("ping") == Expected.pong, "an event more than the messages sent")
        }
    }

    @Test("three connections of one user each get each message; an ack on one is seen by the others; sent events skip the sender")
    func everyDevice() async throws {
        try await withTestServer { server in
            let devices = try await (0..<3).map { $0 }.concurrentMap { _ in
                let device = try await server.rawClient()
                _ = try await device.login("henderson")
                #expect(try await device.request("subscribe") == Expected.subscribed(unread: 0))
                return device
            }
            let messiPhone = try await server.rawClient()
            _ = try await messiPhone.login("messi")
            #expect(try await messiPhone.request("subscribe") == Expected.subscribed(unread: 0))
            let messiLaptop = try await server.rawClient()
            _ = try await messiLaptop.login("messi")

            #expect(try await messiLaptop.request("send henderson halo") == Expected.messageSent)
            var id: Int64 = 0
            for device in devices {
                let event = try await device.readFrame()
                #expect(event.event == "message" && event.text == "halo")
                id = event.id
            }
            let sent = try await messiPhone.readFrame()
            #expect(sent.event == "sent" && sent.text == "halo" && sent.id == id)
            #expect(messiLaptop.pendingText.isEmpty, "the sending connection is not subscribed and gets nothing")

            // The subscribed phone sends: it gets no sent event of its own.
            #expect(try await messiPhone.request("send henderson lagi") == Expected.messageSent)
            for device in devices { _ = try await device.readFrame() }
            #expect(try await messiPhone.request("ping") == Expected.pong)

            #expect(try await devices[0].request("ack \(id)") == Expected.acked(1))
            #expect(try await devices[0].request("ack \(id),\(id)") == Expected.acked(0), "already read")
            let inbox = try await devices[1].request("inbox")
            #expect(!inbox.contains("halo") && inbox.contains("lagi"))
            #expect(try await messiLaptop.request("ack \(id)") == Expected.acked(0), "not messi's message")
        }
    }

    @Test("ack checks the session first, then its id list")
    func ackErrors() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            #expect(try await client.request("ack") == Expected.error("Protocol Tidak Benar"))
            #expect(try await client.request("ack 1") == Expected.error("not authorized"))
            #expect(try await client.request("ack 00000000-0000-4000-8000-000000000000 x") == Expected.error("Session Tidak Ditemukan"))
            let token = try await client.login("henderson")
            #expect(try await client.request("ack \(token)") == Expected.error("Protocol Tidak Benar"))
            for list in ["x", "1,,2", "0", "-1", "+1", "1.0", (1...1_001).map(String.init).joined(separator: ",")] {
                #expect(try await client.request("ack \(list)") == Expected.error("Protocol Tidak Benar"), "\(list.prefix(20))")
            }
            #expect(try await client.request("ack 999999") == Expected.acked(0))
            #expect(try await client.request("subscribe 00000000-0000-4000-8000-000000000000") == Expected.error("Session Tidak Ditemukan"))
            #expect(try await client.request("unsubscribe") == Expected.okMessage("Unsubscribed"))
        }
    }

    @Test("unsubscribe, a new auth, and a logout elsewhere each end the subscription: no event after their reply")
    func subscriptionEnds() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            let henderson = try await server.rawClient()
            let token = try await henderson.login("henderson")

            #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: 0))
            #expect(try await henderson.request("unsubscribe") == Expected.okMessage("Unsubscribed"))
            #expect(try await messi.request("send henderson one") == Expected.messageSent)

            #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: 1))
            #expect(try await henderson.readFrame().text == "one")
            _ = try await henderson.login("lineker")
            #expect(try await messi.request("send henderson two") == Expected.messageSent)

            _ = try await henderson.login("henderson")
            #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: 2))
            #expect(try await henderson.readFrames(2).map(\.text) == ["one", "two"])
            let other = try await server.rawClient()
            let otherToken = try await other.login("henderson")
            #expect(try await other.request("subscribe") == Expected.subscribed(unread: 2))
            _ = try await other.readFrames(2)
            // The logout of the other session leaves this connection's subscription alone…
            #expect(try await other.request("logout") == Expected.okMessage(otherToken))
            #expect(try await messi.request("send henderson three") == Expected.messageSent)
            #expect(try await henderson.readFrame().text == "three")
            // …and the logout of its own session, from elsewhere, ends it.
            let currentToken = try #require(Expected.token(inAuthReply: try await henderson.request("auth henderson surabaya")))
            #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: 3))
            _ = try await henderson.readFrames(3)
            #expect(try await other.request("logout \(currentToken)") == Expected.okMessage(currentToken))
            #expect(try await messi.request("send henderson four") == Expected.messageSent)
            #expect(try await henderson.request("ping") == Expected.pong)
            #expect(henderson.pendingText.isEmpty)
            _ = token
        }
    }

    @Test("presence events reach subscribe presence; a plain subscription never gets one")
    func presenceEvents() async throws {
        try await withTestServer { server in
            let plain = try await server.rawClient()
            _ = try await plain.login("lineker")
            #expect(try await plain.request("subscribe") == Expected.subscribed(unread: 0))
            let watcher = try await server.rawClient()
            _ = try await watcher.login("henderson")
            #expect(try await watcher.request("subscribe presence") == Expected.subscribed(unread: 0))

            let messi = try await server.rawClient()
            let token = try await messi.login("messi")
            let online = try await watcher.readFrame(timeout: .seconds(2 * testTimeScale))
            #expect(online.event == "presence")
            #expect(online.raw == #"{"status": "OK", "event": "presence", "username": "messi", "name": "Lionel Messi", "negara": "Argentina", "online": true}"#)
            #expect(try await messi.request("logout") == Expected.okMessage(token))
            let offline = try await watcher.readFrame(timeout: .seconds(2 * testTimeScale))
            #expect(offline.raw.hasSuffix(#""online": false}"#))

            let again = try await server.rawClient()
            _ = try await again.login("messi")
            #expect(try await watcher.readFrame(timeout: .seconds(2 * testTimeScale)).raw.hasSuffix(#""online": true}"#))
            await again.close()
            #expect(try await watcher.readFrame(timeout: .seconds(2 * testTimeScale)).raw.hasSuffix(#""online": false}"#))
            #expect(try await plain.request("ping") == Expected.pong)
            #expect(plain.pendingText.isEmpty)
        }
    }

    @Test("pipelined requests on a subscribed connection: replies in order, events only between them")
    func pipelinedWithEvents() async throws {
        try await withTestServer { server in
            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            try await henderson.send("subscribe\r\n" + (0..<50).map { "send henderson self\($0)\r\nping\r\n" }.joined())
            let frames = try await henderson.readFrames(1 + 100 + 50)
            let replies = frames.filter { $0.event == nil }.map(\.raw)
            #expect(replies.first == Expected.subscribedJSON(unread: 0))
            let expectedReplies = (0..<50).flatMap { _ in [Expected.messageSentJSON, Expected.pongJSON] }
            #expect(Array(replies.dropFirst()) == expectedReplies)
            #expect(frames.filter { $0.event == "message" }.map(\.text) == (0..<50).map { "self\($0)" })
        }
    }

    @Test("a subscriber that stops reading is cut off at 1 MiB held, the server's memory stays bounded, others are unharmed, the next subscribe replays it all")
    func slowSubscriber() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(arguments: ["--demo", "--database", directory + "/kabar.sqlite"])
        let stalled = try BlockingSocket(port: server.port)
        #expect(await stalled.sendSome(Array("auth henderson surabaya\r\nsubscribe\r\n".utf8), waitingUpTo: .seconds(5)))
        let messi = try await RawClient.connect(port: server.port)
        _ = try await messi.login("messi")
        // Wait until the subscription exists: henderson is online once his auth is done.
        let bystander = try await RawClient.connect(port: server.port)
        _ = try await bystander.login("lineker")
        for _ in 0..<500 where !(try await bystander.request("show")).contains("henderson") {
            try await Task.sleep(for: .milliseconds(10))
        }
        let residentBefore = try residentSetBytes(ofProcess: server.processIdentifier)
        let text = String(repeating: "x", count: 10_000)
        var sent = 0
        // Kernel buffers take some megabytes before the server has to hold events; the
        // stalled connection is gone when henderson is no longer online.
        while sent < 3_000 {
            #expect(try await messi.request("send henderson \(text)") == Expected.messageSent)
            sent += 1
            if sent.isMultiple(of: 50), !(try await bystander.request("show")).contains("henderson") { break }
        }
        let residentAfter = try residentSetBytes(ofProcess: server.processIdentifier)
        #expect(await stalled.waitForClose(upTo: .seconds(10 * testTimeScale)), "still open after \(sent) messages")
        #expect(server.log.contains("slow subscriber disconnected"))
        #expect(sent < 3_000)
        // The events it held (1 MiB) and the buffers of the messages sent meanwhile; not
        // the tens of megabytes that were sent.
        #expect(residentAfter - residentBefore < 24 << 20, "RSS grew from \(residentBefore >> 20) to \(residentAfter >> 20) MiB")
        print("slow subscriber: cut off after \(sent) messages of 10 kB; server RSS \(residentBefore >> 10) KiB -> \(residentAfter >> 10) KiB")
        #expect(try await bystander.request("ping") == Expected.pong)

        let henderson = try await RawClient.connect(port: server.port)
        _ = try await henderson.login("henderson")
        #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: sent))
        let replay = try await henderson.readFrames(sent, timeout: .seconds(30 * testTimeScale))
        #expect(replay.count == sent)
        #expect(try await server.stop() == 0)
    }
}

extension LiveDeliveryTests {
    @Test("history and conversations over a socket: pages, read marks, errors in the documented order")
    func historyAndConversations() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            for index in 0..<5 {
                let (from, to) = index.isMultiple(of: 2) ? (messi, "henderson") : (henderson, "messi")
                #expect(try await from.request("send \(to) h\(index)") == Expected.messageSent)
            }
            _ = try await henderson.request("inbox")  // h0, h2, h4 read

            let page = try await messi.readJSON("history Henderson 2")
            #expect(page["with"]?.stringValue == "henderson")
            let texts = page.messages.compactMap { $0["msg"]?.stringValue }
            #expect(texts == ["h3", "h4"])
            #expect(page.messages.map { $0["read"] } == [.bool(false), .bool(true)])
            let oldestID = try #require(try await messi.readJSON("history henderson").messages.first?["id"]?.integerValue)
            #expect(try await messi.readJSON("history henderson 500 \(oldestID)").messages.isEmpty)
            #expect(try await messi.readJSON("history lineker").messages.isEmpty)
            #expect(try await messi.request("history nobody") == Expected.error("User Tidak Ditemukan"))
            for arguments in ["henderson 0", "henderson 501", "henderson x", "henderson 5 0", "henderson 5 -1", "henderson +5", "nobody 0"] {
                #expect(try await messi.request("history \(arguments)") == Expected.error("Protocol Tidak Benar"), "\(arguments)")
            }
            #expect(try await messi.request("history") == Expected.error("Protocol Tidak Benar"))
            let stranger = try await server.rawClient()
            #expect(try await stranger.request("history henderson x") == Expected.error("not authorized"))
            #expect(try await stranger.request("conversations") == Expected.error("not authorized"))

            let conversations = try await messi.readJSON("conversations")
            guard case .array(let entries)? = conversations["conversations"] else {
                Issue.record("no conversations list")
                return
            }
            #expect(entries.count == 1)
            #expect(entries.first?["username"]?.stringValue == "henderson")
            #expect(entries.first?["unread"]?.integerValue == 2)
            #expect(entries.first?["last"]?["msg"]?.stringValue == "h4")
        }
    }
}

extension LiveDeliveryTests {
    /// How long the stress test below waits for a login or a reply: it runs beside the
    /// rest of the suite (browsers, several servers) on two cores.
    static let patience: Duration = .seconds(30 * testTimeScale)

    @Test("an event is written only after its message is durable: SIGKILL mid-burst, every message an event showed is stored")
    func eventsAreDurable() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--demo", "--database", database])
        let henderson = try await RawClient.connect(port: server.port)
        _ = try await henderson.login("henderson", timeout: Self.patience)
        #expect(try await henderson.request("subscribe", timeout: Self.patience) == Expected.subscribed(unread: 0))
        let senders = try await (0..<4).map { $0 }.concurrentMap { index in
            let client = try await RawClient.connect(port: server.port)
            _ = try await client.login(index.isMultiple(of: 2) ? "messi" : "lineker", timeout: Self.patience)
            return client
        }
        let sending = Task {
            _ = try? await Array(senders.enumerated()).concurrentMap { pair in
                let (index, client) = pair
                for number in 0..<1_000 {
                    guard (try? await client.request("send henderson k\(index)-\(number)")) == Expected.messageSent else { break }
                }
            }
        }
        var seen: [String] = []
        while seen.count < 300, let frame = try? await henderson.readFrame() {
            if let text = frame.text { seen.append(text) }
        }
        #expect(try await server.stop(signal: SIGKILL) == SIGKILL)
        // Whatever the socket still held was written before the kill: it counts too.
        while let frame = try? await henderson.readFrame(timeout: .milliseconds(200)), let text = frame.text { seen.append(text) }
        _ = await sending.value

        let restarted = try await ServerProcess(arguments: ["--database", database])
        let reader = try await RawClient.connect(port: restarted.port)
        _ = try await reader.login("henderson", timeout: Self.patience)
        let inbox = try await reader.request("inbox", timeout: .seconds(30 * testTimeScale))
        let missing = seen.filter { !inbox.contains("\"msg\": \"\($0)\"") }
        #expect(seen.count >= 300)
        #expect(missing.isEmpty, "events of messages the store lost: \(missing.prefix(5))")
        #expect(try await restarted.stop() == 0)
    }
}

extension SQLiteChatStore {
    /// How many unread messages `username` has, read straight from the store.
    func unreadCount(of username: String) async throws -> Int {
        guard let user = try await user(named: Username(username)!) else { return 0 }
        return try await unreadMessages(for: user.id).messages.count
    }
}
