import KabarTestSupport
import Testing

/// Every test that needs a PostgreSQL server, under one suite: where the server programs
/// are missing, the suite is skipped with one line saying how to enable it. Its tests run
/// one at a time: each starts a database, some three servers, and run together on two
/// cores beside the rest of the suite they would starve its timing-sensitive tests.
@Suite(
    "PostgreSQL",
    .enabled(if: PostgresCluster.isInstalled, Comment(rawValue: PostgresCluster.howToEnable)),
    .serialized
)
struct PostgresTests {
    @Suite("Store conformance: PostgreSQL")
    struct Conformance {
        @Test("the PostgreSQL store", arguments: StoreBehaviour.allCases)
        func conforms(_ behaviour: StoreBehaviour) async throws {
            try await StoreHarness.with(.postgres) { try await behaviour.check(on: $0) }
        }
    }
}
