import Foundation
import KabarBench
import KabarClient
import KabarProtocol
import KabarTestSupport
import Testing

/// `kabar-bench` against a real server: its counts match what the server stored.
@Suite("kabar-bench")
struct KabarBenchTests {
    /// The messages in the inboxes of the first `users` bench users, read (and so emptied).
    static func messagesStored(on server: TestServer, users: Int) async throws -> Int {
        var stored = 0
        for index in 0..<users {
            let reader = try await server.connect()
            _ = try await reader.auth(username: "bench-\(index)", password: BenchConfiguration.password)
            stored += try await reader.inbox().reduce(0) { $0 + $1.messages.count }
        }
        return stored
    }

    @Test("a send run: every completed request is one stored message, no errors")
    func sendCountsMatch() async throws {
        try await withTestServer { server in
            var configuration = BenchConfiguration()
            configuration.port = server.port
            configuration.connections = 8
            configuration.users = 4
            configuration.pipeline = 4
            configuration.limit = .requests(2_000)
            configuration.operation = .send
            configuration.recipients = 2
            let report = try await BenchRunner(configuration: configuration).run()
            #expect(report.completed == 2_000)
            #expect(report.errors == 0)
            #expect(report.requestsPerSecond > 0)
            #expect(report.latencyMilliseconds(atPercentile: 50) <= report.maximumLatencyMilliseconds)

            #expect(try await Self.messagesStored(on: server, users: 4) == 2_000 * 2)
        }
    }

    @Test("connections spread over several threads: every request counted once, every message stored once")
    func severalThreads() async throws {
        try await withTestServer { server in
            var configuration = BenchConfiguration()
            configuration.port = server.port
            configuration.connections = 7
            configuration.threads = 3
            configuration.users = 3
            configuration.pipeline = 8
            configuration.limit = .requests(1_501)
            configuration.operation = .send
            let report = try await BenchRunner(configuration: configuration).run()
            #expect(report.completed == 1_501)
            #expect(report.errors == 0)

            #expect(try await Self.messagesStored(on: server, users: 3) == 1_501)
        }
    }

    @Test("a server killed mid-run: the run still ends, with the requests in flight as errors")
    func serverKilled() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(arguments: ["--database", directory + "/kabar.sqlite"])
        var configuration = BenchConfiguration()
        configuration.port = server.port
        configuration.connections = 4
        configuration.users = 2
        configuration.pipeline = 4
        configuration.limit = .duration(.seconds(60))
        configuration.operation = .ping
        let (replies, repliesSoFar) = AsyncStream.makeStream(of: Int.self)
        let run = Task { try await BenchRunner(configuration: configuration).run { count, _ in repliesSoFar.yield(count) } }
        for await count in replies where count > 0 { break }  // the load is running
        _ = try await server.stop(signal: SIGKILL)
        let report = try await run.value
        #expect(report.completed > report.errors)
        #expect(report.errors > 0)
        #expect(report.errors <= 4 * 4)
    }

    @Test("a timed mixed run with warm-up reports its errors instead of hiding them")
    func timedMix() async throws {
        try await withTestServer { server in
            var configuration = BenchConfiguration()
            configuration.port = server.port
            configuration.connections = 4
            configuration.users = 2
            configuration.limit = .duration(.milliseconds(800))
            configuration.warmup = .milliseconds(200)
            configuration.operation = .mix
            let report = try await BenchRunner(configuration: configuration).run()
            #expect(report.completed > 0)
            #expect(report.errors == 0)
            #expect(report.json.hasPrefix(#"{"operation": "mix", "connections": 4"#))

            // Messages too long for the server's line limit are refused, and counted.
            configuration.operation = .send
            configuration.limit = .requests(20)
            configuration.messageSize = 20_000
            let refused = try await BenchRunner(configuration: configuration).run()
            #expect(refused.completed == 20)
            #expect(refused.errors == 20)
        }
    }

    @Test("a push run: every send's event reaches its subscribers, and its delivery is timed")
    func pushDelivers() async throws {
        try await withTestServer { server in
            var configuration = BenchConfiguration()
            configuration.port = server.port
            // 4 send as bench-2 and bench-3; 4 subscribe as bench-0 and bench-1, two each:
            // 2 events a message.
            configuration.connections = 8
            configuration.users = 4
            configuration.limit = .requests(400)
            configuration.operation = .push
            let report = try await BenchRunner(configuration: configuration).run()
            #expect(report.completed == 400)
            #expect(report.errors == 0)
            #expect(report.delivered == 800)
            #expect(report.deliveryMilliseconds(atPercentile: 50) > 0)
            #expect(report.deliveryMilliseconds(atPercentile: 99) <= report.maximumDeliveryMilliseconds)
            #expect(report.text.contains("800 events delivered"))
            #expect(report.json.contains(#""events": 800"#))
        }
    }
}
