import KabarCore
@testable import KabarPostgres
import Testing

/// The passes a node runs against the database (presence, endings, messages): one at a
/// time, and none once the node leaves (a presence write racing the node's removal
/// deadlocked with it in PostgreSQL, and the node's users stayed online).
@Suite("Serial passes")
struct SerialPassTests {
    @Test("triggers while a pass runs make one more pass, not one each")
    func triggersCoalesce() async throws {
        let pass = SerialPass()
        let runs = Locked(0)
        let firstMayEnd = Gate()
        let body: @Sendable () async -> Void = {
            if runs.withLock({ $0 += 1; return $0 }) == 1 { await firstMayEnd.wait() }
        }
        pass.trigger(body)
        try await waitUntil { runs.withLock { $0 } == 1 }
        for _ in 0..<5 { pass.trigger(body) }
        firstMayEnd.open()
        try await waitUntil { runs.withLock { $0 } == 2 }
        try await Task.sleep(for: .milliseconds(100))
        #expect(runs.withLock { $0 } == 2)
    }

    @Test("close waits for the pass running now; no pass runs after it, even one already requested")
    func closeWaitsAndEnds() async throws {
        let pass = SerialPass()
        let events = Locked<[String]>([])
        let body: @Sendable () async -> Void = {
            events.withLock { $0.append("started") }
            try? await Task.sleep(for: .milliseconds(200))
            events.withLock { $0.append("ended") }
        }
        pass.trigger(body)
        try await waitUntil { events.withLock { $0 } == ["started"] }
        pass.trigger(body)

        await pass.close()
        #expect(events.withLock { $0 } == ["started", "ended"])
        pass.trigger(body)
        await pass.close()
        try await Task.sleep(for: .milliseconds(300))
        #expect(events.withLock { $0 } == ["started", "ended"])
    }

    @Test("closing an idle pass returns at once")
    func closeIdle() async {
        let pass = SerialPass()
        await pass.close()
        let ran = Locked(false)
        pass.trigger { ran.withLock { $0 = true } }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(ran.withLock { $0 } == false)
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition still false after 5 s")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Holds those who wait until it is opened.
private final class Gate: Sendable {
    private let state = Locked<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let passes = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if passes { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
