import KabarCore
@testable import KabarPostgres
@testable import KabarSQLite
import KabarTestSupport
import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

// MARK: - StoreHarness

/// A fresh store of one kind, with what the conformance checks need to look past the
/// ``ChatStore`` protocol: every stored message counted, and the store reopened.
final class StoreHarness: Sendable {
    private let state: Locked<any ChatStore>
    private let countRows: @Sendable (any ChatStore) async throws -> Int
    private let openAgain: @Sendable (any ChatStore) async throws -> any ChatStore
    private let closeStore: @Sendable (any ChatStore) async -> Void
    private let cleanUp: @Sendable () -> Void

    var store: any ChatStore { state.withLock { $0 } }

    private init(
        store: any ChatStore,
        countRows: @escaping @Sendable (any ChatStore) async throws -> Int,
        openAgain: @escaping @Sendable (any ChatStore) async throws -> any ChatStore,
        close: @escaping @Sendable (any ChatStore) async -> Void,
        cleanUp: @escaping @Sendable () -> Void = {}
    ) {
        self.state = Locked(store)
        self.countRows = countRows
        self.openAgain = openAgain
        self.closeStore = close
        self.cleanUp = cleanUp
    }

    /// Every message row, read or not.
    func messageRowCount() async throws -> Int {
        try await countRows(store)
    }

    /// Closes the store and opens the same database again.
    func reopen() async throws {
        let reopened = try await openAgain(store)
        state.withLock { $0 = reopened }
    }

    func close() async {
        await closeStore(store)
        cleanUp()
    }

    /// Runs `body` with a harness on a new database, and removes it after.
    static func with(_ kind: StoreKind, _ body: (StoreHarness) async throws -> Void) async throws {
        let harness = try await make(kind)
        do {
            try await body(harness)
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    private static func make(_ kind: StoreKind) async throws -> StoreHarness {
        switch kind {
        case .sqlite:
            let directory = try makeTemporaryDirectory()
            let path = directory + "/kabar.sqlite"
            return StoreHarness(
                store: try SQLiteChatStore(path: path, durability: .normal),
                countRows: { store in
                    try await (store as! SQLiteChatStore).database.write { db in
                        Int(try db.query("SELECT count(*) FROM messages").first?.integer(0) ?? -1)
                    }
                },
                openAgain: { store in
                    await (store as! SQLiteChatStore).close()
                    return try SQLiteChatStore(path: path, durability: .normal)
                },
                close: { await ($0 as! SQLiteChatStore).close() },
                cleanUp: { try? FileManager.default.removeItem(atPath: directory) }
            )
        case .postgres:
            let location = try await PostgresCluster.shared().newDatabase()
            let logger = Logger(label: "kabar-store-test", factory: { _ in SwiftLogNoOpLogHandler() })
            return StoreHarness(
                store: try await PostgresChatStore.connect(to: location, logger: logger),
                countRows: { store in
                    let rows = try await (store as! PostgresChatStore).client.query("SELECT count(*) FROM messages", logger: logger)
                    return Int(try await rows.decode(Int64.self).first { _ in true } ?? -1)
                },
                openAgain: { store in
                    await (store as! PostgresChatStore).close()
                    return try await PostgresChatStore.connect(to: location, logger: logger)
                },
                close: { await ($0 as! PostgresChatStore).close() }
            )
        }
    }
}

/// The stores the conformance checks run on.
enum StoreKind: String, Sendable, CustomStringConvertible {
    case sqlite = "SQLite"
    case postgres = "PostgreSQL"

    var description: String { rawValue }
}
