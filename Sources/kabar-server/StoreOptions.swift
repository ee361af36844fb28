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
            return .postgres(store)
        }
        return .sqlite(try SQLiteChatStore(path: database, durability: durability))
    }
}

/// A store opened from the command line.
enum OpenedStore {
    case sqlite(SQLiteChatStore)
    case postgres(PostgresChatStore)

    var store: any ChatStore {
        switch self {
        case .sqlite(let store): store
        case .postgres(let store): store
        }
    }

    /// Closes the store at the server's shutdown (listed before the server, it stops after it).
    var service: any Service {
        switch self {
        case .sqlite(let store): SQLiteStoreService(store: store)
        case .postgres(let store): PostgresStoreService(store: store)
        }
    }

    func close() async {
        switch self {
        case .sqlite(let store): await store.close()
        case .postgres(let store): await store.close()
        }
    }

    /// How a server on this store works with the others on it: alone on SQLite; as one of
    /// the nodes on PostgreSQL, with the service that takes the node out at shutdown
    /// (listed between the store and the server).
    func joinAsNode(_ configuration: ChatServiceConfiguration) async throws -> (NodeCoordination, (any Service)?) {
        switch self {
        case .sqlite:
            return (.singleNode(throttle: configuration.authThrottle), nil)
        case .postgres(let store):
            let node = try await PostgresNode.join(store: store, sessionIdleLimit: configuration.sessionIdleLimit)
            return (node.coordination(throttle: configuration.authThrottle), PostgresNodeService(node: node))
        }
    }

    /// How an administration command works with the servers on this store: on PostgreSQL
    /// it makes every node forget the sessions it ends before it exits.
    var commandCoordination: NodeCoordination? {
        switch self {
        case .sqlite: nil
        case .postgres(let store): store.commandCoordination()
        }
    }
}

extension SQLiteDurability: ExpressibleByArgument {}
