import Foundation

// MARK: - Timing bounds

/// How many times longer than usual a timing bound of a test may be: 1 normally.
/// `.ci/run` sets `KABAR_TEST_TIME_SCALE` for its run under the thread sanitizer, which
/// slows every thread of the server several times.
public let testTimeScale: Double = ProcessInfo.processInfo.environment["KABAR_TEST_TIME_SCALE"].flatMap(Double.init) ?? 1

// MARK: - Concurrent map

extension Array where Element: Sendable {
    /// `transform` applied to every element at once, the results in the elements' order.
    public func concurrentMap<T: Sendable>(_ transform: @escaping @Sendable (Element) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for (index, element) in enumerated() {
                group.addTask { (index, try await transform(element)) }
            }
            var results: [(Int, T)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
