import KabarServer
import NIOCore
import Testing

@Suite("Token bucket")
struct TokenBucketTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("take spends a whole token when there is one, and otherwise says how long until one, spending nothing")
    func take() {
        var bucket = TokenBucket(rate: 2, burst: 2, now: start)
        #expect(bucket.take(at: start) == .zero)
        #expect(bucket.take(at: start) == .zero)
        #expect(bucket.take(at: start) == .milliseconds(500))
        #expect(bucket.take(at: start) == .milliseconds(500), "a refused take spends nothing")
        #expect(bucket.take(at: start + .milliseconds(250)) == .milliseconds(250))
        #expect(bucket.take(at: start + .milliseconds(500)) == .zero)
        #expect(bucket.take(at: start + .seconds(10)) == .zero, "at most the burst is saved up")
        #expect(bucket.take(at: start + .seconds(10)) == .zero)
        #expect(bucket.take(at: start + .seconds(10)) == .milliseconds(500))
    }
}
