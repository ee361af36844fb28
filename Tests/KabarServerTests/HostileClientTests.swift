import Foundation
import KabarCore
import KabarServer
import KabarTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Clients that flood, never read, or try to act for someone else.
@Suite("Hostile clients")
struct HostileClientTests {
    @Test("flood control slows a connection down without dropping any request")
    func floodControl() async throws {
        try await withTestServer(configure: {
            $0.requestsPerSecond = 20
            $0.requestBurst = 5
        }) { server in
            let flooder = try await server.rawClient()
            let bystander = try await server.rawClient()
            let started = ContinuousClock.now
            try await flooder.send(String(repeating: "ping\r\n", count: 45))
            #expect(try await bystander.request("ping") == Expected.pong)
            let replies = try await flooder.readReplies(45, timeout: .seconds(30 * testTimeScale))
            let elapsed = ContinuousClock.now - started
            #expect(replies.allSatisfy { $0 == Expected.pong })
            // 45 requests at 20 a second after a burst of 5 cannot all be read in under 2 s.
            #expect(elapsed >= .milliseconds(1500), "took \(elapsed)")
        }
    }

    @Test("a graceful shutdown answers the lines flood control holds at once, not at its rate")
    func floodControlAtShutdown() async throws {
        try await withTestServer(configure: {
            $0.requestsPerSecond = 1
            $0.requestBurst = 1
        }) { server in
            let flooder = try await server.rawClient()
            try await flooder.send(String(repeating: "ping\r\n", count: 30))
            #expect(try await flooder.readReplies(1) == [Expected.pong])
            // At one a second the other 29 would take 29 s: the drain lets them go at once.
            async let shutdown: Void = server.beginShutdown()
            let rest = try await flooder.readUntilClosed(timeout: .seconds(15 * testTimeScale))
            await shutdown
            #expect(rest == String(repeating: Expected.pong, count: 29))
        }
    }

    @Test("a client that never reads: the server stops reading it, stays small, and disconnects it")
    func neverReads() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--demo", "--database", database, "--stalled-reader-timeout", "3"])
        let residentBefore = try residentSetBytes(ofProcess: server.processIdentifier)
        let socket = try BlockingSocket(port: server.port)
        // Each ping is 6 bytes in and 40 out: 64 MiB of requests would be 400 MiB of replies.
        let request = Array(String(repeating: "ping\r\n", count: 10_000).utf8)
        var sent = 0
        while sent < 64 << 20, await socket.sendSome(request, waitingUpTo: .seconds(2)) {
            sent += request.count
        }
        let residentPeak = try residentSetBytes(ofProcess: server.processIdentifier)
        let bystander = try await RawClient.connect(port: server.port)
        #expect(try await bystander.request("ping") == Expected.pong)
        #expect(sent < 64 << 20, "the server kept reading: \(sent) bytes accepted")
        #expect(residentPeak - residentBefore < 32 << 20, "server grew from \(residentBefore) to \(residentPeak) bytes")
        // The server first answers what the kernel buffers still take (megabytes of replies),
        // then, with nothing moving for the timeout, closes. Generous: CI machines are busy.
        #expect(await socket.waitForClose(upTo: .seconds(90 * testTimeScale)))
        #expect(try await server.stop() == 0)
        print("never-reading client: \(sent) bytes accepted before the server stopped reading; server RSS \(residentBefore / 1024) KiB -> \(residentPeak / 1024) KiB")
    }

    @Test("a token acts for its own user only, whatever the connection is bound to")
    func tokenActsForItsUser() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            let henderson = try await server.rawClient()
            let messiToken = try await messi.login("messi")
            _ = try await henderson.login("henderson")
            #expect(try await henderson.request("send \(messiToken) lineker via messi token") == Expected.messageSent)
            #expect(try await henderson.request("send lineker bound now to messi") == Expected.messageSent)
            let lineker = try await server.rawClient()
            _ = try await lineker.login("lineker")
            let inbox = try await lineker.request("inbox")
            #expect(inbox.contains(#"{"messi": [{"msg_from": "Lionel Messi", "msg_to": "Gary Lineker", "msg": "via messi token"}, {"msg_from": "Lionel Messi", "msg_to": "Gary Lineker", "msg": "bound now to messi"}]}"#))
            #expect(!inbox.contains("henderson"))
        }
    }

    @Test("logs of a whole session, failed logins included, hold no password and no whole token")
    func logsHoldNoSecrets() async throws {
        let lines = LogCapture()
        try await withTestServer(logHandler: lines.handler) { server in
            let client = try await server.rawClient()
            #expect(try await client.request("auth messi rahasia-salah") == Expected.error("Password Salah"))
            #expect(try await client.request("auth pele sandi-pele") == Expected.error("User Tidak Ada"))
            let token = try await client.login("messi")
            #expect(try await client.request(#"register budi sandi-budi-123 "Budi" Indonesia"#) == Expected.okMessage("User Registered"))
            #expect(try await client.request("send \(token) henderson pesan rahasia") == Expected.messageSent)
            #expect(try await client.request("inbox \(token)") == Expected.emptyInbox)
            #expect(try await client.request("logout \(token)") == Expected.okMessage(token))
            await client.close()
            let other = try await server.rawClient()
            #expect(try await other.request("inbox \(token)") == Expected.error("Session Tidak Ditemukan"))
            await other.close()
            // Both connections' last lines are logged when the server sees them close.
            let deadline = ContinuousClock.now + .seconds(10)
            while lines.text.components(separatedBy: "connection closed").count - 1 < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let text = lines.text
            #expect(text.components(separatedBy: "connection closed").count - 1 == 2)
            #expect(text.contains("auth refused"))
            #expect(text.contains("auth succeeded"))
            #expect(text.contains(String(token.prefix(8))))
            for secret in ["surabaya", "rahasia-salah", "sandi-pele", "sandi-budi-123", token, String(token.suffix(27))] {
                #expect(!text.contains(secret), "\(secret) is in the log")
            }
        }
    }
}
