import NIOSSL
import PostgresNIO

import Foundation

// MARK: - PostgresLocation

/// Where a PostgreSQL database is, from a `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
/// URL (`postgresql://` too) with an optional `?sslmode=disable|prefer|require` (verify-ca
/// and verify-full are read as `require`, which verifies the certificate and host name).
///
/// The password may be left out of the URL and given in `PGPASSWORD`, as for `psql`.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, sslMode: SSLMode = .prefer) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
    }

    /// Reads a URL; nil if `text` is not a `postgres://` URL with a user, a host and a database.
    public init?(url text: String, environmentPassword: String? = nil) {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"), let components = URLComponents(string: text),
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else { return nil }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { return nil }
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            switch item.value {
            case "disable": sslMode = .disable
            case "allow", "prefer": sslMode = .prefer
            case "require", "verify-ca", "verify-full": sslMode = .require
            default: return nil
            }
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: user,
            password: components.password ?? environmentPassword,
            database: database,
            sslMode: sslMode
        )
    }

    /// The URL without its password.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// A pool configuration of at most `connections` connections.
    func clientConfiguration(connections: Int) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls
        )
        configuration.options.maximumConnections = connections
        configuration.options.minimumConnections = 1
        return configuration
    }
}
