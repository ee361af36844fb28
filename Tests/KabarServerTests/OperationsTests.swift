import Foundation
import KabarTestSupport
import Testing

/// `kabar-server --metrics-port`: Prometheus metrics, health and readiness, scraped from a
/// running server.
@Suite("Operations port")
struct OperationsTests {
    @Test("/metrics counts what the server did; /healthz and /readyz answer; anything else is 404")
    func scrape() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(
            arguments: ["--demo", "--database", directory + "/kabar.sqlite", "--metrics-port", "0", "--auth-failures-per-user", "2"],
            listeners: 2
        )
        let port = try #require(server.operationsPort)
        #expect(try await Self.get("/healthz", port: port).hasPrefix("HTTP/1.1 200 OK"))
        #expect(try await Self.get("/readyz", port: port).hasSuffix("\r\n\r\nready\n"))
        #expect(try await Self.get("/nothing", port: port).hasPrefix("HTTP/1.1 404"))

        let messi = try await RawClient.connect(port: server.port)
        _ = try await messi.login("messi")
        for index in 0..<3 { #expect(try await messi.request("send henderson m\(index)") == Expected.messageSent) }
        #expect(try await messi.request("send nobody x") == Expected.error("User Tidak Ditemukan"))
        #expect(try await messi.request("bogus") == Expected.error("Protocol Tidak Benar"))
        let henderson = try await RawClient.connect(port: server.port)
        _ = try await henderson.login("henderson")
        #expect(try await henderson.request("subscribe") == Expected.subscribed(unread: 3))
        _ = try await henderson.readFrames(3)
        #expect(try await messi.request("send henderson live") == Expected.messageSent)
        _ = try await henderson.readFrame()
        let stranger = try await RawClient.connect(port: server.port)
        for _ in 0..<2 { #expect(try await stranger.request("auth lineker wrong") == Expected.error("Password Salah")) }
        #expect(try await stranger.request("auth lineker surabaya") == Expected.error("Terlalu Banyak Percobaan"))

        let metrics = try await Self.get("/metrics", port: port)
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK"))
        #expect(metrics.contains("Content-Type: text/plain; version=0.0.4"))
        let expected = [
            #"kabar_requests_total{command="send",outcome="ok"} 4"#,
            #"kabar_requests_total{command="send",outcome="refused"} 1"#,
            #"kabar_requests_total{command="invalid",outcome="refused"} 1"#,
            #"kabar_requests_total{command="auth",outcome="ok"} 2"#,
            #"kabar_request_duration_seconds_count{command="send"} 5"#,
            "kabar_connections_open 3.0",
            "kabar_logins_failed_total 2",
            "kabar_logins_throttled_total 1",
            "kabar_events_pushed_total 4",
            #"kabar_store_commit_batch_size_count{store="sqlite"}"#,
            #"kabar_store_commit_duration_seconds_count{store="sqlite"}"#,
            #"kabar_log_flush_duration_seconds_count{store="sqlite"}"#,
            #"kabar_connections_refused_total{reason="server_full"} 0"#,
        ]
        for line in expected { #expect(metrics.contains(line), "\(line) not in:\n\(metrics)") }
        #expect(try await server.stop() == 0)
    }

    @Test("/readyz is 503 while the chat listener is not up: during shutdown")
    func notReadyWhileStopping() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(
            arguments: ["--database", directory + "/kabar.sqlite", "--metrics-port", "0", "--shutdown-timeout", "5"],
            listeners: 2
        )
        let port = try #require(server.operationsPort)
        #expect(try await Self.get("/readyz", port: port).hasSuffix("ready\n"))
        // A client sending back to back keeps the server in its drain for a second after
        // the signal (the listeners are closed by then).
        let client = try await RawClient.connect(port: server.port)
        #expect(try await client.request("ping") == Expected.pong)
        let pinging = Task {
            while (try? await client.request("ping", timeout: .seconds(2))) == Expected.pong {}
        }
        kill(server.processIdentifier, SIGTERM)
        var sawNotReady = false
        while !sawNotReady, let reply = try? await Self.get("/readyz", port: port) {
            sawNotReady = reply.hasPrefix("HTTP/1.1 503")
        }
        #expect(sawNotReady)
        #expect(try await server.stop() == 0)
        await pinging.value
    }

    /// One HTTP GET, the whole response as text.
    static func get(_ path: String, port: Int) async throws -> String {
        let client = try await RawClient.connect(port: port)
        try await client.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return try await client.readUntilClosed()
    }
}
