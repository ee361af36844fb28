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
        let database = try makeTemporaryDirectory() + "/kabar.sqlite"
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
        let database = try makeTemporaryDirectory() + "/kabar.sqlite"
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
                let deadline = ContinuousClock.now + .seconds(30)
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
