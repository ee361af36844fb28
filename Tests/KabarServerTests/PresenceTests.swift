import Foundation
import KabarCore
import KabarTestSupport
import Testing

/// PROTOCOL.md, `show`: who is online and in what order.
@Suite("Presence")
struct PresenceTests {
    private func users(_ reply: String) -> [String] {
        reply.components(separatedBy: #""username": ""#).dropFirst().map { String($0.prefix(while: { $0 != "\"" })) }
    }

    /// Polls `show` until it lists `expected`: a closed connection is seen by the server
    /// shortly after the client closes it.
    private func waitForOnline(_ client: RawClient, _ expected: [String]) async throws -> [String] {
        var listed: [String] = []
        for _ in 0..<200 {
            listed = users(try await client.request("show"))
            if listed == expected { return listed }
            try await Task.sleep(for: .milliseconds(10))
        }
        return listed
    }

    @Test("listed once each, in the order they came online; offline when the last connection closes")
    func order() async throws {
        try await withTestServer { server in
            let lineker = try await server.rawClient()
            let messi = try await server.rawClient()
            let messiAgain = try await server.rawClient()
            let henderson = try await server.rawClient()
            _ = try await lineker.login("lineker")
            _ = try await messi.login("messi")
            _ = try await messiAgain.login("messi")
            _ = try await henderson.login("henderson")
            #expect(users(try await henderson.request("show")) == ["lineker", "messi", "henderson"])

            await messi.close()
            #expect(try await waitForOnline(henderson, ["lineker", "messi", "henderson"]) == ["lineker", "messi", "henderson"])
            await messiAgain.close()
            #expect(try await waitForOnline(henderson, ["lineker", "henderson"]) == ["lineker", "henderson"])

            await lineker.close()
            #expect(try await waitForOnline(henderson, ["henderson"]) == ["henderson"])
            let back = try await server.rawClient()
            _ = try await back.login("lineker")
            #expect(users(try await henderson.request("show")) == ["henderson", "lineker"])
        }
    }

    @Test("a token survives its connection: reconnecting with it brings the user back online")
    func reconnect() async throws {
        try await withTestServer { server in
            let first = try await server.rawClient()
            let watcher = try await server.rawClient()
            let token = try await first.login("messi")
            _ = try await watcher.login("henderson")
            await first.close()
            #expect(try await waitForOnline(watcher, ["henderson"]) == ["henderson"])
            let second = try await server.rawClient()
            #expect(try await second.request("inbox \(token)") == Expected.emptyInbox)
            #expect(users(try await watcher.request("show")) == ["henderson", "messi"])
        }
    }

    @Test("logout takes the user offline at once, on every connection bound to that session")
    func logout() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            let borrowed = try await server.rawClient()
            let watcher = try await server.rawClient()
            let token = try await messi.login("messi")
            #expect(try await borrowed.request("inbox \(token)") == Expected.emptyInbox)
            _ = try await watcher.login("henderson")
            #expect(try await messi.request("logout") == Expected.okMessage(token))
            #expect(users(try await watcher.request("show")) == ["henderson"])
        }
    }

    @Test("an expired session no longer counts, and its token is refused")
    func expiry() async throws {
        let clock = ManualWallClock()
        let configuration = ChatServiceConfiguration(sessionIdleLimit: .seconds(3600))
        try await withTestServer(service: configuration, clock: clock) { server in
            let messi = try await server.rawClient()
            let watcher = try await server.rawClient()
            let token = try await messi.login("messi")
            clock.advance(by: .seconds(1800))
            let watcherToken = try await watcher.login("henderson")
            #expect(users(try await watcher.request("show")) == ["messi", "henderson"])
            clock.advance(by: .seconds(1900))
            #expect(users(try await watcher.request("show \(watcherToken)")) == ["henderson"])
            #expect(try await messi.request("inbox") == Expected.error("Session Tidak Ditemukan"))
            #expect(try await messi.request("inbox \(token)") == Expected.error("Session Tidak Ditemukan"))
        }
    }

    @Test("using a session keeps it alive")
    func useExtends() async throws {
        let clock = ManualWallClock()
        try await withTestServer(service: ChatServiceConfiguration(sessionIdleLimit: .seconds(3600)), clock: clock) { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            for _ in 0..<4 {
                clock.advance(by: .seconds(3000))
                #expect(try await messi.request("inbox") == Expected.emptyInbox)
            }
        }
    }
}
