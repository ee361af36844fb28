import Testing

@Suite("Store conformance: SQLite")
struct SQLiteConformanceTests {
    @Test("the SQLite store", arguments: StoreBehaviour.allCases)
    func conforms(_ behaviour: StoreBehaviour) async throws {
        try await StoreHarness.with(.sqlite) { try await behaviour.check(on: $0) }
    }
}
