import NIOCore

// MARK: - TokenBucket

/// A token bucket, as a value: `rate` tokens a second, at most `burst` saved up.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    public private(set) var tokens: Double
    private var lastRefill: NIODeadline

    public init(rate: Double, burst: Double, now: NIODeadline) {
        precondition(rate > 0 && burst >= 1, "a bucket needs a positive rate and room for one token")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.lastRefill = now
    }

    /// Spends one token; the balance may go below zero (the caller then waits longer).
    public mutating func spend(at now: NIODeadline) {
        refill(at: now)
        tokens -= 1
    }

    /// Spends a token if a whole one is available. - Returns: zero if it spent one,
    /// otherwise how long until one is available (nothing is spent).
    public mutating func take(at now: NIODeadline) -> TimeAmount {
        let delay = delayUntilAvailable(at: now)
        if delay == .zero { tokens -= 1 }
        return delay
    }

    /// How long until a whole token is available; zero if one is.
    public mutating func delayUntilAvailable(at now: NIODeadline) -> TimeAmount {
        refill(at: now)
        guard tokens < 1 else { return .zero }
        return .nanoseconds(Int64(((1 - tokens) / rate * 1_000_000_000).rounded(.up)))
    }

    private mutating func refill(at now: NIODeadline) {
        let elapsed = Double((now - lastRefill).nanoseconds) / 1_000_000_000
        if elapsed > 0 {
            tokens = min(burst, tokens + elapsed * rate)
            lastRefill = now
        }
    }
}
