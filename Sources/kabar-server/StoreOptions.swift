import ArgumentParser
import KabarCore
import KabarPostgres
import KabarSQLite
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - StoreOptions

/// Where the data lives; shared by `serve` and the `user` commands.
struct StoreOptions: ParsableArguments {
    @Option(help: "SQLite database file, or a postgres://USER@HOST:PORT/DATABASE URL (KABAR_DATABASE; password from PGPASSWORD or the URL).")
    var database: String = Environment.string("KABAR_DATABASE") ?? "kabar.sqlite"

    @Option(help: "SQLite only. full: every commit survives power loss; normal: survives a server crash (KABAR_DURABILITY).")
    var durability: SQLiteDurability = Environment.string("KABAR_DURABILITY").flatMap { SQLiteDurability(rawValue: $0) } ?? .full

    @Option(help: "PostgreSQL only: the most database connections this node opens (KABAR_DATABASE_CONNECTIONS).")
    var databaseConnections: Int = Environment.int("KABAR_DATABASE_CONNECTIONS") ?? 16

    /// The PostgreSQL database named by `--database`, if it is a URL.
    var postgresLocation: PostgresLocation? {
        get throws {
            guard database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") else { return nil }
            guard let location = PostgresLocation(url: database, environmentPassword: Environment.string("PGPASSWORD")) else {
                throw ValidationError("--database: not a postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require] URL")
            }
            return location
        }
    }

    func open(logger: Logger) async throws -> OpenedStore {
        if let location = try postgresLocation {
            let store = try await PostgresChatStore.connect(to: location, connections: databaseConnections, logger: logger)
            logger.info("store open", metadata: ["database": "\(location)"])
            return OpenedStore(store: store, service: PostgresStoreService(store: store), close: store.close)
        }
        let store = try SQLiteChatStore(path: database, durability: durability)
        return OpenedStore(store: store, service: SQLiteStoreService(store: store), close: store.close)
    }
}

/// A store opened from the command line, with the service that closes it at shutdown.
struct OpenedStore {
    let store: any ChatStore
    let service: any Service
    let close: @Sendable () async -> Void
}

extension SQLiteDurability: ExpressibleByArgument {}
