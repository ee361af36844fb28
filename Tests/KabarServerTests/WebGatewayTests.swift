import Foundation
import KabarTestSupport
import Testing

/// PROTOCOL.md, "Web gateway": the chat protocol over a WebSocket at `/ws`, and the web
/// client at `/`, from a real `kabar-server --http-port` (one at a time: each test starts
/// a server process).
@Suite("Web gateway", .serialized)
final class WebGatewayTests {
    let directory: String

    init() throws {
        directory = try makeTemporaryDirectory()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func startServer(_ arguments: [String] = [], listeners: Int = 2) async throws -> (ServerProcess, Int) {
        let server = try await ServerProcess(
            arguments: ["--demo", "--database", directory + "/kabar-\(UUID().uuidString).sqlite", "--http-port", "0"] + arguments,
            listeners: listeners
        )
        return (server, try #require(server.httpPort))
    }

    @Test("the page, its script and style: strict Content-Security-Policy, no inline script; unknown paths are 404")
    func page() async throws {
        let (server, port) = try await startServer()
        let page = try await OperationsTests.get("/", port: port)
        #expect(page.hasPrefix("HTTP/1.1 200 OK"))
        #expect(page.contains("Content-Security-Policy: default-src 'none'; script-src 'self';"))
        #expect(page.contains("X-Content-Type-Options: nosniff"))
        #expect(page.contains(#"<script src="/app.js" defer></script>"#))
        #expect(!page.contains("<script>"), "no inline script")
        #expect(try await OperationsTests.get("/app.js", port: port).contains("Content-Type: text/javascript"))
        #expect(try await OperationsTests.get("/style.css", port: port).contains("Content-Type: text/css"))
        #expect(try await OperationsTests.get("/nothing", port: port).hasPrefix("HTTP/1.1 404"))
        #expect(try await server.stop() == 0)
    }

    @Test("every command over a WebSocket: one request per text frame, one reply per frame without the terminator")
    func commands() async throws {
        let (server, port) = try await startServer()
        let messi = try await WebSocketTestClient.connect(port: port, origin: "http://127.0.0.1:\(port)")
        #expect(try await messi.request("ping") == Self.json(Expected.pong))
        #expect(try await messi.request("inbox") == Self.json(Expected.error("not authorized")))
        #expect(try await messi.request("auth messi wrong1234") == Self.json(Expected.error("Password Salah")))
        let token = try await messi.login("messi")
        #expect(try await messi.request("register budi rahasia123 \"Budi Santoso\" Indonesia") == Self.json(Expected.okMessage("User Registered")))
        #expect(try await messi.request("send henderson,budi hello gimana kabarnya son") == Self.json(Expected.messageSent))
        #expect(try await messi.request("show \(token)").hasPrefix(#"{"status": "OK", "message": [{"username": "messi""#))
        let history = try await messi.request("history henderson")
        #expect(history.hasPrefix(#"{"status": "OK", "with": "henderson", "messages": [{"id": "#) && history.contains(#""read": false}"#))
        #expect(try await messi.request("conversations").contains(#""username": "budi""#))

        let budi = try await WebSocketTestClient.connect(port: port)
        _ = try await budi.login("budi", password: "rahasia123")
        #expect(try await budi.request("subscribe presence") == Self.json(Expected.subscribed(unread: 1)))
        let replayed = try await budi.receive()
        #expect(replayed.hasPrefix(#"{"status": "OK", "event": "message", "message": {"id": "#) && replayed.contains("gimana kabarnya"))
        #expect(try await messi.request("send budi live one") == Self.json(Expected.messageSent))
        let live = try await budi.receive()
        #expect(live.contains(#""event": "message""#) && live.contains("live one"))
        let id = try #require(live.split(separator: "\"id\": ").dropFirst().first?.prefix { $0.isNumber })
        #expect(try await budi.request("ack \(id)") == Self.json(Expected.acked(1)))
        await messi.close()
        let presence = try await budi.receive()
        #expect(presence.contains(#""event": "presence", "username": "messi""#) && presence.hasSuffix(#""online": false}"#))
        #expect(try await budi.request("unsubscribe") == Self.json(Expected.okMessage("Unsubscribed")))
        let inbox = try await budi.request("inbox")
        #expect(inbox.contains("gimana kabarnya") && !inbox.contains("live one"), "a push is not a read; the ack was: \(inbox)")
        let budiToken = try await budi.login("budi", password: "rahasia123")
        #expect(try await budi.request("logout") == Self.json(Expected.okMessage(budiToken)))
        await budi.close()
        #expect(try await server.stop() == 0)
    }

    @Test("bad frames get the TCP errors and the connection stays usable: binary, too long, a line break, bad UTF-8; past the frame bound it is closed")
    func badFrames() async throws {
        let (server, port) = try await startServer()
        let client = try await WebSocketTestClient.connect(port: port)
        client.send(.binary(Array("ping".utf8)))
        #expect(try await client.receive() == Self.json(Expected.error("Protocol Tidak Benar")))
        client.send(.text("send henderson " + String(repeating: "x", count: 16 * 1024)))
        #expect(try await client.receive() == Self.json(Expected.error("Request Terlalu Panjang")))
        client.send(.text("ping\nping"))
        #expect(try await client.receive() == Self.json(Expected.error("Protocol Tidak Benar")))
        client.send(.rawText(Array("send henderson ".utf8) + [0xC3, 0x28]))
        #expect(try await client.receive() == Self.json(Expected.error("Encoding Tidak Valid")))
        client.send(.text("   "))  // empty after trimming: no reply, as on TCP
        #expect(try await client.request("ping") == Self.json(Expected.pong))

        let other = try await WebSocketTestClient.connect(port: port)
        #expect(try await other.request("ping") == Self.json(Expected.pong))
        client.send(.text(String(repeating: "y", count: 70 * 1024)))
        #expect(try await client.waitUntilClosed())
        #expect(try await other.request("ping") == Self.json(Expected.pong), "other connections are unharmed")
        #expect(try await server.stop() == 0)
    }

    @Test("a foreign Origin is refused (403); the page's own and a configured one are let in")
    func origin() async throws {
        let (server, port) = try await startServer(["--allowed-origin", "https://chat.example.org"])
        await #expect(throws: (any Error).self) { try await WebSocketTestClient.connect(port: port, origin: "https://evil.example.com") }
        await #expect(throws: (any Error).self) { try await WebSocketTestClient.connect(port: port, origin: "http://127.0.0.1:\(port + 1)") }
        await #expect(throws: (any Error).self) { try await WebSocketTestClient.connect(port: port, origin: "null") }
        for origin in ["http://127.0.0.1:\(port)", "https://chat.example.org", "ws://127.0.0.1"] {
            let client = try await WebSocketTestClient.connect(port: port, origin: origin)
            #expect(try await client.request("ping") == Self.json(Expected.pong))
            await client.close()
        }
        #expect(try await server.stop() == 0)
    }

    @Test("a browser session and a TCP session of the same user see each other's messages; a browser user is online for show")
    func browserAndTCP() async throws {
        let (server, port) = try await startServer()
        let browser = try await WebSocketTestClient.connect(port: port)
        _ = try await browser.login("messi")
        #expect(try await browser.request("subscribe") == Self.json(Expected.subscribed(unread: 0)))
        let terminal = try await RawClient.connect(port: server.port)
        _ = try await terminal.login("messi")
        #expect(try await terminal.request("subscribe") == Expected.subscribed(unread: 0))
        #expect(try await terminal.request("show").contains(#""username": "messi""#))

        #expect(try await terminal.request("send henderson from the terminal") == Expected.messageSent)
        let sent = try await browser.receive()
        #expect(sent.contains(#""event": "sent""#) && sent.contains("from the terminal"))
        #expect(try await browser.request("send henderson from the browser") == Self.json(Expected.messageSent))
        #expect(try await terminal.readFrame().text == "from the browser")

        let henderson = try await RawClient.connect(port: server.port)
        _ = try await henderson.login("henderson")
        #expect(try await henderson.request("send messi hi both") == Expected.messageSent)
        #expect(try await browser.receive().contains("hi both"))
        #expect(try await terminal.readFrame().text == "hi both")
        await browser.close()
        #expect(try await server.stop() == 0)
    }

    @Test("the per-address limits count WebSockets with TCP connections")
    func limits() async throws {
        let (server, port) = try await startServer(["--max-connections-per-address", "1", "--limit-loopback"])
        let tcp = try await RawClient.connect(port: server.port)
        #expect(try await tcp.request("ping") == Expected.pong)
        // The server writes `Server Penuh` and closes at once: a client may see the frame, or
        // only the close if it came with the upgrade's reply. Either way it is out.
        if let refused = try? await WebSocketTestClient.connect(port: port) {
            if let frame = try? await refused.receive() { #expect(frame == Self.json(Expected.error("Server Penuh"))) }
            await refused.close()
        }
        await tcp.close()
        // Once the server has seen the TCP connection go, a WebSocket is let in.
        var admitted: WebSocketTestClient?
        for _ in 0..<100 where admitted == nil {
            if let client = try? await WebSocketTestClient.connect(port: port), (try? await client.request("ping")) == Self.json(Expected.pong) {
                admitted = client
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        await admitted?.close()
        #expect(admitted != nil)
        #expect(try await server.stop() == 0)
    }

    @Test("an idle WebSocket is closed; requests, ping included, count as activity")
    func idleTimeout() async throws {
        let (server, port) = try await startServer(["--idle-timeout", "4"])
        let busy = try await WebSocketTestClient.connect(port: port)
        let idle = try await WebSocketTestClient.connect(port: port)
        #expect(try await idle.request("ping") == Self.json(Expected.pong))
        let start = ContinuousClock.now
        while !(try await idle.waitUntilClosed(timeout: .milliseconds(250))) {
            #expect(try await busy.request("ping") == Self.json(Expected.pong))
            guard ContinuousClock.now - start < .seconds(20 * testTimeScale) else { break }
        }
        #expect(try await idle.waitUntilClosed(timeout: .zero), "closed after four seconds without a request")
        #expect(try await busy.request("ping") == Self.json(Expected.pong), "the busy one stays")
        #expect(try await server.stop() == 0)
    }

    @Test("with a TLS certificate the web port serves HTTPS and WSS, with the same certificate")
    func secure() async throws {
        let certificates = try TestCertificates.generate(in: directory)
        let (server, port) = try await startServer([
            "--tls-cert", certificates.certificatePath, "--tls-key", certificates.privateKeyPath, "--tls-port", "0",
        ], listeners: 3)
        #expect(server.log.contains("transport=https"))
        let client = try await WebSocketTestClient.connect(port: port, authorityPath: certificates.authorityPath)
        _ = try await client.login("messi")
        #expect(try await client.request("send henderson lewat wss") == Self.json(Expected.messageSent))
        await client.close()
        #expect(try await server.stop() == 0)
    }

    @Test("flood control: past its burst, a WebSocket's frames are read at the configured rate; nothing is refused or lost")
    func floodControl() async throws {
        let (server, port) = try await startServer(["--max-requests-per-second", "20", "--request-burst", "5"])
        let client = try await WebSocketTestClient.connect(port: port)
        let start = ContinuousClock.now
        for _ in 0..<45 { client.send(.text("ping")) }
        for _ in 0..<45 { #expect(try await client.receive() == Self.json(Expected.pong)) }
        // 40 requests past the burst at 20 a second: two seconds at least (a lower bound,
        // which a slow machine only makes longer).
        #expect(ContinuousClock.now - start >= .seconds(1.9))
        #expect(try await server.stop() == 0)
    }

    /// A TCP reply as a frame's text: without `\r\n\r\n`.
    static func json(_ reply: String) -> String {
        Expected.withoutTerminator(reply)
    }
}
