import ArgumentParser
import KabarSQLite

// MARK: - StoreOptions

/// Where the data lives; shared by `serve` and the `user` commands.
struct StoreOptions: ParsableArguments {
    @Option(help: "SQLite database file (KABAR_DATABASE).")
    var database: String = Environment.string("KABAR_DATABASE") ?? "kabar.sqlite"

    @Option(help: "full: every commit survives power loss; normal: survives a server crash (KABAR_DURABILITY).")
    var durability: SQLiteDurability = Environment.string("KABAR_DURABILITY").flatMap { SQLiteDurability(rawValue: $0) } ?? .full

    func open() throws -> SQLiteChatStore {
        try SQLiteChatStore(path: database, durability: durability)
    }
}

extension SQLiteDurability: ExpressibleByArgument {}
