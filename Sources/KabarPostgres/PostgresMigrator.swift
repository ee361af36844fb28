import Foundation
import Logging
import PostgresNIO

// MARK: - PostgresMigrator

/// Brings a database's schema up to date, safely while other nodes start at the same moment.
///
/// Each migration runs in a transaction that first takes an advisory lock, then reads the
/// version: a node that waited for the lock sees what the node before it did, and a
/// version it does not know (a newer kabar-server's) stops it.
struct PostgresMigrator {
    let client: PostgresClient
    let logger: Logger

    func migrate(to migrations: [String]) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS kabar_schema (version INTEGER NOT NULL)",
                logger: logger
            )
            let found = try await connection.query("SELECT version FROM kabar_schema", logger: logger)
                .decode(Int32.self).first { _ in true }
            let version = Int(found ?? 0)
            guard version <= migrations.count else {
                throw PostgresStoreError.schemaTooNew(found: version, known: migrations.count)
            }
            for migration in migrations.dropFirst(version) {
                for statement in Self.statements(of: migration) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            if found == nil {
                try await connection.query("INSERT INTO kabar_schema (version) VALUES (\(Int32(migrations.count)))", logger: logger)
            } else if version < migrations.count {
                try await connection.query("UPDATE kabar_schema SET version = \(Int32(migrations.count))", logger: logger)
            }
        }
    }

    /// A migration's statements: it ends each with a semicolon at the end of a line.
    static func statements(of migration: String) -> [String] {
        migration.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { statement in
            statement.split(separator: "\n").contains { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
        }
    }
}
