import KabarCore
import Foundation
import KabarClient
import KabarProtocol
import KabarTestSupport
import Synchronization
import Testing

/// "An OK means the message survives a crash of the server": proven with SIGKILL.
@Suite("Crash safety")
struct CrashSafetyTests {
    /// What the senders of one cycle saw.
    struct Outcome: Sendable {
        var acknowledged: [String] = []
        var attempted: [String] = []
    }

    @Test("SIGKILL mid-load, five times: every acknowledged message is stored exactly once")
    func killCycles() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        var acknowledged: [String] = []
        var attempted = Set<String>()
        for cycle in 0..<5 {
            let server = try await ServerProcess(arguments: ["--demo", "--database", database])
            let outcome = await load(port: server.port, cycle: cycle, senders: 24) {
                _ = try? await server.stop(signal: SIGKILL)
            }
            #expect(outcome.acknowledged.count >= 100, "cycle \(cycle) got too little load in")
            acknowledged += outcome.acknowledged
            attempted.formUnion(outcome.attempted)
        }

        let server = try await ServerProcess(arguments: ["--database", database])
        let reader = try await KabarConnection.connect(host: "127.0.0.1", port: server.port)
        _ = try await reader.auth(username: "henderson", password: "surabaya")
        let stored = try await reader.inbox().flatMap { $0.messages.map(\.text) }
        #expect(try await server.stop() == 0)

        let storedSet = Set(stored)
        #expect(stored.count == storedSet.count, "a message was stored twice")
        #expect(Set(acknowledged).isSubset(of: storedSet), "lost: \(Set(acknowledged).subtracting(storedSet).prefix(5))")
        #expect(storedSet.isSubset(of: attempted), "stored a message nobody sent")
        print("kill cycles: \(acknowledged.count) acknowledged, \(stored.count) stored, \(stored.count - acknowledged.count) stored without an OK (in flight at the kill), 0 lost")
    }

    @Test("SIGTERM under load from 24 connections: exit 0, nothing acknowledged is lost, new clients refused")
    func terminateUnderLoad() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--demo", "--database", database])
        let port = server.port
        let status = Counter()
        let outcome = await load(port: port, cycle: 0, senders: 24) {
            status.value.store(Int((try? await server.stop(signal: SIGTERM)) ?? -1), ordering: .relaxed)
        }
        #expect(status.value.load(ordering: .relaxed) == 0)
        #expect(outcome.acknowledged.count >= 100)
        await #expect(throws: (any Error).self) { try await KabarConnection.connect(host: "127.0.0.1", port: port) }

        let restarted = try await ServerProcess(arguments: ["--database", database])
        let reader = try await KabarConnection.connect(host: "127.0.0.1", port: restarted.port)
        _ = try await reader.auth(username: "henderson", password: "surabaya")
        let stored = try await reader.inbox().flatMap { $0.messages.map(\.text) }
        #expect(stored.count == Set(stored).count)
        #expect(Set(outcome.acknowledged).isSubset(of: Set(stored)))
        #expect(try await restarted.stop() == 0)
    }

    /// What one back-to-back sender saw.
    struct BackToBackOutcome: Sendable {
        var acknowledged: [String] = []
        /// Bytes received after the last whole reply when the server closed.
        var pendingAtClose: String?
        /// Anything else that ended the sender: an error, a reset, an unexpected reply.
        var problem: String?
    }

    @Test("SIGTERM while 50 connections send back to back: exit 0 within 2 s, every request read is answered and stored once, no half reply")
    func terminateBackToBack() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--demo", "--database", database])
        var clients: [RawClient] = []
        for index in 0..<50 {
            let client = try await RawClient.connect(port: server.port)
            _ = try await client.login(index.isMultiple(of: 2) ? "messi" : "lineker")
            clients.append(client)
        }
        let acknowledgedCount = Counter()
        let stopped = Locked<(status: Int32, seconds: Double)?>(nil)
        let outcomes = await withTaskGroup(of: BackToBackOutcome.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask { await Self.sendBackToBack(client, index: index, counting: acknowledgedCount) }
            }
            group.addTask {
                // Shut down once every connection is well into its stream of sends.
                while acknowledgedCount.value.load(ordering: .relaxed) < 1_000 {
                    try? await Task.sleep(for: .milliseconds(5))
                }
                let signalled = ContinuousClock.now
                let status = (try? await server.stop(signal: SIGTERM)) ?? -1
                let elapsed = ContinuousClock.now - signalled
                stopped.withLock { $0 = (status, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) }
                return BackToBackOutcome()
            }
            var all: [BackToBackOutcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let (status, seconds) = try #require(stopped.withLock { $0 })
        #expect(status == 0)
        #expect(seconds < 2 * testTimeScale, "exit took \(seconds) s")
        for outcome in outcomes where outcome.problem != nil {
            Issue.record("a sender ended badly: \(outcome.problem ?? "")")
        }
        #expect(outcomes.allSatisfy { ($0.pendingAtClose ?? "").isEmpty }, "a client was left with a half reply")

        let restarted = try await ServerProcess(arguments: ["--database", database])
        let reader = try await KabarConnection.connect(host: "127.0.0.1", port: restarted.port)
        _ = try await reader.auth(username: "henderson", password: "surabaya")
        let stored = try await reader.inbox().flatMap { $0.messages.map(\.text) }
        #expect(try await restarted.stop() == 0)
        let acknowledged = outcomes.flatMap(\.acknowledged)
        #expect(stored.count == Set(stored).count, "a message was stored twice")
        // Equal sets: nothing acknowledged was lost, and nothing the server read and stored
        // went unanswered.
        #expect(Set(stored) == Set(acknowledged), "stored without a reply: \(Set(stored).subtracting(acknowledged).prefix(3)); lost: \(Set(acknowledged).subtracting(stored).prefix(3))")
        print("back-to-back SIGTERM: exit after \(seconds) s, \(acknowledged.count) acknowledged and stored")
    }

    /// Sends unique messages to henderson, each as soon as the last one's reply arrived,
    /// until the server closes the connection.
    private static func sendBackToBack(_ client: RawClient, index: Int, counting acknowledgedCount: Counter) async -> BackToBackOutcome {
        var outcome = BackToBackOutcome()
        defer { Task { await client.close() } }
        for number in 0... {
            let text = "sender\(index)-\(number)"
            do {
                try await client.send("send henderson \(text)\r\n")
                let reply = try await client.readReply(timeout: .seconds(10))
                guard reply == Expected.messageSent else {
                    outcome.problem = "unexpected reply \(reply)"
                    break
                }
                outcome.acknowledged.append(text)
                acknowledgedCount.value.add(1, ordering: .relaxed)
            } catch RawClientError.closed(let pending) {
                outcome.pendingAtClose = pending
                if let error = client.endingError { outcome.problem = "the connection ended with \(error)" }
                break
            } catch {
                // A send that fails because the server closed meanwhile: the reply to the
                // previous one has arrived, so nothing is missing.
                if client.isClosed, client.pendingText.isEmpty, client.endingError == nil { break }
                outcome.problem = "\(error); pending \(client.pendingText.debugDescription); \(client.endingError ?? "")"
                break
            }
        }
        return outcome
    }

    /// Runs `senders` connections sending unique messages to henderson until `kill` has
    /// been called (once at least 100 messages per cycle are acknowledged).
    private func load(port: Int, cycle: Int, senders: Int, kill: @escaping @Sendable () async -> Void) async -> Outcome {
        let acknowledgedCount = Counter()
        return await withTaskGroup(of: Outcome.self) { group in
            for sender in 0..<senders {
                group.addTask {
                    var outcome = Outcome()
                    guard let connection = try? await KabarConnection.connect(host: "127.0.0.1", port: port),
                        let token = try? await connection.auth(username: sender.isMultiple(of: 2) ? "messi" : "lineker", password: "surabaya")
                    else { return outcome }
                    for number in 0... {
                        let text = "cycle\(cycle)-sender\(sender)-\(number)"
                        outcome.attempted.append(text)
                        do {
                            try await connection.sendMessage(text, to: ["henderson"], token: token)
                        } catch {
                            break
                        }
                        outcome.acknowledged.append(text)
                        acknowledgedCount.value.add(1, ordering: .relaxed)
                    }
                    return outcome
                }
            }
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(30 * testTimeScale)
                let target = 150 + 100 * cycle
                while acknowledgedCount.value.load(ordering: .relaxed) < target, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(5))
                }
                await kill()
                return Outcome()
            }
            var total = Outcome()
            for await outcome in group {
                total.acknowledged += outcome.acknowledged
                total.attempted += outcome.attempted
            }
            return total
        }
    }
}

/// A counter shared by the sender tasks.
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
