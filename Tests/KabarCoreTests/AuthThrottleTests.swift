import KabarCore
import Testing

/// The throttle as a value: failures in, decisions out, on a fixed timeline.
@Suite("Auth throttle")
struct AuthThrottleTests {
    let start = Timestamp(milliseconds: 1_000_000)
    let configuration = AuthThrottle.Configuration(
        failuresPerUsername: 3,
        failuresPerAddress: 5,
        window: .seconds(300),
        blockDuration: .seconds(60)
    )

    @Test("the limit-th failure blocks the username for the block duration")
    func blocksUsername() {
        var throttle = AuthThrottle(configuration: configuration)
        for second in 0..<2 { throttle.recordFailure(username: "messi", address: "a\(second)", at: start + .seconds(second)) }
        #expect(!throttle.isBlocked(username: "messi", address: "z", at: start + .seconds(2)))
        throttle.recordFailure(username: "messi", address: "a2", at: start + .seconds(2))
        #expect(throttle.isBlocked(username: "messi", address: "z", at: start + .seconds(2)))
        #expect(throttle.isBlocked(username: "messi", address: "z", at: start + .seconds(61)))
        #expect(!throttle.isBlocked(username: "messi", address: "z", at: start + .seconds(62)))
        #expect(!throttle.isBlocked(username: "henderson", address: "z", at: start + .seconds(2)))
    }

    @Test("failures older than the window do not count")
    func window() {
        var throttle = AuthThrottle(configuration: configuration)
        throttle.recordFailure(username: "messi", address: "a", at: start)
        throttle.recordFailure(username: "messi", address: "b", at: start + .seconds(100))
        throttle.recordFailure(username: "messi", address: "c", at: start + .seconds(301))
        #expect(!throttle.isBlocked(username: "messi", address: "z", at: start + .seconds(301)))
    }

    @Test("a success clears the username's failures but not the address's")
    func success() {
        var throttle = AuthThrottle(configuration: configuration)
        for index in 0..<2 { throttle.recordFailure(username: "messi", address: "a", at: start + .seconds(index)) }
        throttle.recordSuccess(username: "messi")
        for index in 0..<2 { throttle.recordFailure(username: "messi", address: "a", at: start + .seconds(10 + index)) }
        #expect(!throttle.isBlocked(username: "messi", address: "b", at: start + .seconds(12)))
        throttle.recordFailure(username: "other", address: "a", at: start + .seconds(13))
        #expect(throttle.isBlocked(username: "anyone", address: "a", at: start + .seconds(13)))
    }

    @Test("many distinct usernames do not grow the state without bound")
    func sweep() {
        var throttle = AuthThrottle(configuration: configuration)
        for index in 0..<30_000 {
            throttle.recordFailure(username: "ghost\(index)", address: "a\(index % 7)", at: start + .seconds(index))
        }
        #expect(!throttle.isBlocked(username: "ghost0", address: "q", at: start + .seconds(30_000)))
    }
}
