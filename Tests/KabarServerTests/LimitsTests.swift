import Foundation
import KabarCore
import KabarServer
import KabarTestSupport
import NIOCore
import Testing

/// PROTOCOL.md, "Limits and bad input": each row, and what happens to other connections.
@Suite("Limits and bad input")
struct LimitsTests {
    @Test("line limit: limit - 1 and limit are served, limit + 1 is refused; the connection stays usable")
    func lineLimit() async throws {
        try await withTestServer(configure: { $0.maximumLineLength = 64 }) { server in
            let client = try await server.rawClient()
            func ping(paddedTo length: Int) -> String { "ping" + String(repeating: " ", count: length - 5) + "x" }
            #expect(try await client.request(ping(paddedTo: 63)) == Expected.pong)
            #expect(try await client.request(ping(paddedTo: 64)) == Expected.pong)
            #expect(try await client.request(ping(paddedTo: 65)) == Expected.error("Request Terlalu Panjang"))
            // Split across writes, with the terminator arriving last.
            try await client.send(String(ping(paddedTo: 65).prefix(30)))
            try await client.send(String(ping(paddedTo: 65).dropFirst(30)) + "\r")
            try await client.send("\nping\r\n")
            #expect(try await client.readReplies(2) == [Expected.error("Request Terlalu Panjang"), Expected.pong])
        }
    }

    @Test("the client ends its input: every line it sent is answered, an over-long unfinished one refused, a short unfinished one not; then the close")
    func endOfInput() async throws {
        try await withTestServer(configure: { $0.maximumLineLength = 64 }) { server in
            let client = try await server.rawClient()
            let overLong = "ping" + String(repeating: "x", count: 80)
            // The auth hashes a password meanwhile, so the lines behind it are still waiting
            // when the end of input arrives.
            try await client.send("auth messi surabaya\r\nping\r\n" + overLong)
            try await client.shutdownOutput()
            let replies = try await client.readUntilClosed()
            let rest = Expected.pong + Expected.error("Request Terlalu Panjang")
            #expect(Expected.token(inAuthReply: String(replies.dropLast(rest.count))) != nil && replies.hasSuffix(rest), "\(replies)")

            let other = try await server.rawClient()
            try await other.send("ping\r\npin")
            try await other.shutdownOutput()
            #expect(try await other.readUntilClosed() == Expected.pong)
        }
    }

    @Test("a 20 MiB line without a newline: one refusal, bounded memory, other connections served")
    func hugeLine() async throws {
        // A server process of its own: the test process's size moves with every other test
        // running beside this one (it once grew 34 MB while this server's did not).
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--demo", "--database", database])
        let flooder = try await RawClient.connect(port: server.port)
        let bystander = try await RawClient.connect(port: server.port)
        _ = try await bystander.login("messi")
        let residentBefore = try residentSetBytes(ofProcess: server.processIdentifier)
        let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 1 << 20)
        for megabyte in 0..<20 {
            try await flooder.send(bytes: chunk)
            if megabyte % 5 == 0 { #expect(try await bystander.request("ping") == Expected.pong) }
        }
        #expect(try await flooder.readReply() == Expected.error("Request Terlalu Panjang"))
        #expect(try await bystander.request("inbox") == Expected.emptyInbox)
        try await flooder.send("\r\nping\r\n")
        #expect(try await flooder.readReply() == Expected.pong)
        #expect(flooder.pendingText.isEmpty)
        let growth = try residentSetBytes(ofProcess: server.processIdentifier) - residentBefore
        #expect(growth < 16 << 20, "the server process grew by \(growth) bytes")
        #expect(try await server.stop() == 0)
    }

    @Test("bytes that are not UTF-8 get Encoding Tidak Valid; the connection stays usable")
    func invalidUTF8() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            try await client.send(bytes: Array("send henderson ".utf8) + [0xC3, 0x28, 0xFF] + Array("\r\nping\r\n".utf8))
            #expect(try await client.readReplies(2) == [Expected.error("Encoding Tidak Valid"), Expected.pong])
        }
    }

    @Test("empty and blank lines get no reply")
    func emptyLines() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            try await client.send("\r\n\n   \r\n\t\r\nping\r\n")
            #expect(try await client.readReply() == Expected.pong)
            try await client.send("ping\r\n")
            #expect(try await client.readReply() == Expected.pong)
            #expect(client.pendingText.isEmpty)
        }
    }

    @Test("idle connections are closed; requests, ping included, count as activity; trickled bytes do not")
    func idleTimeout() async throws {
        // Generous: with the whole suite running on two cores, a ping's round trip took up to
        // 4.3 s (the slowest of 50 ms-spaced pings, nine full runs), which a 4 s timeout
        // sometimes turned into a closed pinger. (Scaled for the sanitizer's slower run.)
        try await withTestServer(configure: { $0.idleTimeout = .seconds(8 * testTimeScale) }) { server in
            let silent = try await server.rawClient()
            let trickler = try await server.rawClient()
            let pinger = try await server.rawClient()
            let started = ContinuousClock.now
            var trickleTask: Task<Void, Never>? = Task {
                while !Task.isCancelled {
                    try? await trickler.send("p")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            // The pinger asks far more often than the timeout; the others go quiet.
            while ContinuousClock.now < started + .seconds(12 * testTimeScale) {
                #expect(try await pinger.request("ping") == Expected.pong)
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await silent.readUntilClosed(timeout: .seconds(5 * testTimeScale)) == "")
            _ = try await trickler.readUntilClosed(timeout: .seconds(5 * testTimeScale))
            trickleTask?.cancel()
            trickleTask = nil
            #expect(try await pinger.request("ping") == Expected.pong)
        }
    }

    @Test("128 requests in progress on a connection: its later lines wait unread; other connections are served")
    func requestsInProgressLimit() async throws {
        try await withSendsHeldByTheStore(200, then: "ping\r\n") { server, store, messi in
            // Other connections are served meanwhile; a connection per event loop, so that
            // every loop has run what was queued on it (messi's lines among it) by the time
            // they are all answered.
            let others = try await (0..<System.coreCount).asyncMap { _ in try await server.rawClient() }
            for other in others { #expect(try await other.request("ping") == Expected.pong) }
            let henderson = others[0]
            _ = try await henderson.login("henderson")
            #expect(store.deliveriesReceived == 128)

            store.open()
            let replies = try await messi.readReplies(201, timeout: .seconds(30 * testTimeScale))
            #expect(replies.dropLast().allSatisfy { $0 == Expected.messageSent })
            #expect(replies.last == Expected.pong)
            #expect(store.deliveriesReceived == 200)
            let inbox = try await henderson.request("inbox")
            let positions = Expected.positions(ofMessages: (0..<200).map { "m\($0)" }, inInbox: inbox)
            #expect(positions.allSatisfy { $0 != nil })
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        }
    }

    @Test("graceful shutdown reads a pipelined burst past the in-progress limit for the drain time, and answers every line it read")
    func shutdownAnswersWhatItRead() async throws {
        // Once the server stops reading at the in-progress limit, TCP flow control holds
        // the rest back; it arrives in pieces as the server reads again, some of them
        // hundreds of milliseconds apart. What arrives within the drain time is answered;
        // what does not is neither stored nor answered.
        try await withSendsHeldByTheStore(2_000) { server, store, messi in
            async let shutdown: Void = server.beginShutdown()
            // Most of the lines are still in the sockets, unread, when the shutdown begins,
            // which it has once the listener refuses new clients.
            try await waitUntilRefused(port: server.port)
            store.open()
            await shutdown
            // Well inside the test server's 20 s bound on a graceful shutdown, after which
            // the connection would be closed by cancellation instead.
            let replies = try await messi.readUntilClosed(timeout: .seconds(10 * testTimeScale)).components(separatedBy: "\r\n\r\n").dropLast()
            #expect(replies.count > 128, "nothing was read past the in-progress limit during the drain")
            #expect(replies.allSatisfy { $0 + "\r\n\r\n" == Expected.messageSent })
            #expect(store.deliveriesReceived == replies.count, "a line was read and not answered")
            #expect(messi.endingError == nil, "the connection was reset")
        }
    }

    /// Returns once the server on `port` refuses connections (its listener is closed).
    private func waitUntilRefused(port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while let client = try? await RawClient.connect(port: port) {
            await client.close()
            guard ContinuousClock.now < deadline else {
                Issue.record("the listener still accepts 10 s after the shutdown began")
                return
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Runs `body` once messi, logged in, has pipelined `count` sends to henderson (and then
    /// `more`) in one write while the store holds every delivery back, and 128 of them have
    /// reached the store.
    private func withSendsHeldByTheStore(
        _ count: Int,
        then more: String = "",
        _ body: (TestServer, GatedStore, RawClient) async throws -> Void
    ) async throws {
        var gatedStore: GatedStore?
        // A clock that stands still keeps the session in the server's cache, so that every
        // send goes straight to the store, however slowly a busy machine runs the test.
        try await withTestServer(clock: ManualWallClock(), wrapStore: { store in
            let gated = GatedStore(wrapping: store)
            gatedStore = gated
            return gated
        }) { server in
            let store = try #require(gatedStore)
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            #expect(try await messi.request("inbox") == Expected.emptyInbox)  // the session is now known
            store.close()
            try await messi.send((0..<count).map { "send henderson m\($0)\r\n" }.joined() + more)
            let deadline = ContinuousClock.now + .seconds(10)
            while store.deliveriesReceived < 128, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await body(server, store, messi)
        }
    }

    @Test("at the connection limit the next client gets Server Penuh and is closed; the others are unharmed")
    func connectionLimit() async throws {
        try await withTestServer(configure: { $0.maximumConnections = 3 }) { server in
            let first = try await server.rawClient()
            let second = try await server.rawClient()
            let third = try await server.rawClient()
            for client in [first, second, third] { #expect(try await client.request("ping") == Expected.pong) }
            let refused = try await server.rawClient()
            #expect(try await refused.readUntilClosed() == Expected.error("Server Penuh"))
            for client in [first, second, third] { #expect(try await client.request("ping") == Expected.pong) }
            await first.close()
            var admitted = false
            for _ in 0..<100 where !admitted {
                let next = try await server.rawClient()
                admitted = (try? await next.request("ping", timeout: .seconds(2 * testTimeScale))) == Expected.pong
                if !admitted { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(admitted)
        }
    }

    @Test("per-address limits apply to 127.0.0.2; 127.0.0.1 is exempt by default")
    func perAddressConcurrent() async throws {
        try await withTestServer(configure: { $0.maximumConnectionsPerAddress = 2 }) { server in
            let a = try await server.rawClient(from: "127.0.0.2")
            let b = try await server.rawClient(from: "127.0.0.2")
            #expect(try await a.request("ping") == Expected.pong)
            #expect(try await b.request("ping") == Expected.pong)
            let c = try await server.rawClient(from: "127.0.0.2")
            #expect(try await c.readUntilClosed() == Expected.error("Server Penuh"))
            let loopback = try await (0..<4).asyncMap { _ in try await server.rawClient() }
            for client in loopback { #expect(try await client.request("ping") == Expected.pong) }
            #expect(try await a.request("ping") == Expected.pong)
        }
    }

    @Test("per-address new connections per minute, and loopback limited when configured")
    func perAddressRate() async throws {
        try await withTestServer(configure: {
            $0.maximumNewConnectionsPerMinute = 3
            $0.exemptsLoopback = false
        }) { server in
            for _ in 0..<3 {
                let client = try await server.rawClient()
                #expect(try await client.request("ping") == Expected.pong)
                await client.close()
            }
            let fourth = try await server.rawClient()
            #expect(try await fourth.readUntilClosed() == Expected.error("Server Penuh"))
            let other = try await server.rawClient(from: "127.0.0.3")
            #expect(try await other.request("ping") == Expected.pong)
        }
    }

    @Test("failed auths per username: blocked for 60 s whatever the password, across reconnects")
    func throttleUsername() async throws {
        let clock = ManualWallClock()
        try await withTestServer(clock: clock) { server in
            for attempt in 0..<10 {
                let client = try await server.rawClient()
                #expect(try await client.request("auth messi wrong\(attempt)") == Expected.error("Password Salah"))
                await client.close()
            }
            let client = try await server.rawClient()
            #expect(try await client.request("auth messi surabaya") == Expected.error("Terlalu Banyak Percobaan"))
            #expect(try await client.request("auth MESSI surabaya") == Expected.error("Terlalu Banyak Percobaan"))
            #expect(Expected.token(inAuthReply: try await client.request("auth henderson surabaya")) != nil)
            clock.advance(by: .seconds(30))
            #expect(try await client.request("auth messi surabaya") == Expected.error("Terlalu Banyak Percobaan"))
            clock.advance(by: .seconds(31))
            #expect(Expected.token(inAuthReply: try await client.request("auth messi surabaya")) != nil)
            // Success cleared the count: nine more failures do not block.
            for _ in 0..<9 { #expect(try await client.request("auth messi nope") == Expected.error("Password Salah")) }
            #expect(Expected.token(inAuthReply: try await client.request("auth messi surabaya")) != nil)
        }
    }

    @Test("unknown users count too, and failures per address block every username from that address")
    func throttleAddress() async throws {
        let clock = ManualWallClock()
        let configuration = ChatServiceConfiguration(
            authThrottle: AuthThrottle.Configuration(
                failuresPerUsername: 10,
                failuresPerAddress: 5,
                window: .seconds(300),
                blockDuration: .seconds(60)
            )
        )
        try await withTestServer(service: configuration, clock: clock) { server in
            let attacker = try await server.rawClient(from: "127.0.0.4")
            for index in 0..<5 {
                #expect(try await attacker.request("auth ghost\(index) x") == Expected.error("User Tidak Ada"))
            }
            #expect(try await attacker.request("auth lineker surabaya") == Expected.error("Terlalu Banyak Percobaan"))
            let reconnected = try await server.rawClient(from: "127.0.0.4")
            #expect(try await reconnected.request("auth lineker surabaya") == Expected.error("Terlalu Banyak Percobaan"))
            let loopback = try await server.rawClient()
            #expect(Expected.token(inAuthReply: try await loopback.request("auth lineker surabaya")) != nil)
            clock.advance(by: .seconds(61))
            #expect(Expected.token(inAuthReply: try await reconnected.request("auth lineker surabaya")) != nil)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
