import Dispatch
@testable import KabarCore
import KabarProtocol
import Testing

@Suite("Request lane and pending results")
struct RequestLaneTests {
    @Test("work finishing on other threads in any order still runs one at a time, in the order it was started")
    func keepsOrder() async throws {
        let lane = RequestLane(runsInCallOrder: false)
        let log = Locked<[Int]>([])
        let running = Locked(0)
        let allDone = Pending<Void>()
        let count = 200
        for index in 0..<count {
            lane.start { finished in
                #expect(running.withLock { $0 += 1; return $0 } == 1, "one piece of work at a time")
                DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int.random(in: 0...300))) {
                    running.withLock { $0 -= 1 }
                    let logged = log.withLock { $0.append(index); return $0.count }
                    finished()
                    if logged == count { allDone.complete(.success(())) }
                }
            }
        }
        await lane.idle()
        try await allDone.value
        #expect(log.withLock { $0 } == Array(0..<count))
    }

    @Test("idle waits for the work started before it, and returns at once when there is none")
    func idleWaits() async {
        let lane = RequestLane(runsInCallOrder: false)
        await lane.idle()
        let finishedAt = Locked<Int?>(nil)
        let release = Pending<Void>()
        lane.start { finished in
            release.whenComplete { _ in
                finishedAt.withLock { $0 = 1 }
                finished()
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { release.complete(.success(())) }
        await lane.idle()
        #expect(finishedAt.withLock { $0 } == 1)
    }

    @Test("a pending result reaches its callback whether it completed before or after the callback came")
    func pendingBothWays() async throws {
        let early = Pending<Int>()
        early.complete(.success(1))
        early.complete(.success(2))  // ignored
        #expect(try await early.value == 1)
        let late = Pending<Int>()
        DispatchQueue.global().async { late.complete(.success(3)) }
        #expect(try await late.value == 3)
    }
}
