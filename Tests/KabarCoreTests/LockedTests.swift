import Foundation
import KabarCore
import Testing

@Suite("Locked")
struct LockedTests {
    @Test("eight threads updating one value at once lose no update")
    func concurrentUpdates() async {
        let counts = Locked([String: Int]())
        let threads = 8
        let updates = 5_000
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            let remaining = Locked(threads)
            for thread in 0..<threads {
                Thread {
                    for update in 0..<updates {
                        counts.withLock { $0["key\(update % 16)", default: 0] += 1 }
                        if update.isMultiple(of: 1_000) { _ = counts.withLock { $0.count } }
                    }
                    let isLast = remaining.withLock { remaining in
                        remaining -= 1
                        return remaining == 0
                    }
                    if isLast { finished.resume() }
                    _ = thread
                }.start()
            }
        }
        #expect(counts.withLock { $0.values.reduce(0, +) } == threads * updates)
        #expect(counts.withLock { $0.count } == 16)
    }

    @Test("what the body returns or throws comes back out")
    func returnsAndThrows() {
        struct Refused: Error {}
        let value = Locked(41)
        #expect(value.withLock { $0 += 1; return $0 } == 42)
        #expect(throws: Refused.self) { try value.withLock { _ in throw Refused() } }
        #expect(value.withLock { $0 } == 42)
    }
}
