import Foundation
import KabarCore
import KabarPostgres

// MARK: - PostgresCluster

/// A throwaway PostgreSQL server for the tests: `initdb` into a temporary folder, started
/// on a free loopback port, removed when the test process exits. Run as root, it runs as
/// the unprivileged `postgres` user (or `nobody`), since PostgreSQL refuses root.
///
/// Each test gets a database of its own from ``newDatabase()``.
public final class PostgresCluster: Sendable {
    /// The folder with PostgreSQL's server programs, if they are installed: on the `PATH`,
    /// or where Debian's `postgresql` package puts them.
    public static let binaries: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var candidates = path.split(separator: ":").map(String.init)
        let debian = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: debian)) ?? []
        candidates += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(debian)/\($0)/bin" }
        return candidates.first { folder in
            ["initdb", "postgres", "pg_isready", "createdb"].allSatisfy {
                FileManager.default.isExecutableFile(atPath: "\(folder)/\($0)")
            }
        }.map { URL(fileURLWithPath: "\($0)/initdb").resolvingSymlinksInPath().deletingLastPathComponent().path }
    }()

    /// Whether the PostgreSQL tests can run here.
    public static var isInstalled: Bool { binaries != nil }

    /// Shown in place of the PostgreSQL tests when they cannot run.
    public static let howToEnable =
        "PostgreSQL's server programs (initdb, postgres) are not installed: `apt-get install postgresql` (or put them on PATH) to run the PostgreSQL tests"

    /// The cluster shared by every test of this process, started on first use.
    public static func shared() async throws -> PostgresCluster {
        try await sharedStart.value
    }

    private static let sharedStart = Task { try await PostgresCluster.start() }
    private static let running = Locked<PostgresCluster?>(nil)

    public let port: Int
    public let user = "kabar"
    private let directory: String
    private let binaries: String
    private let server: Process
    private let databaseCount = Locked(0)

    private init(port: Int, directory: String, binaries: String, server: Process) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.server = server
    }

    private static func start() async throws -> PostgresCluster {
        guard let binaries else { throw PostgresClusterError.notInstalled }
        let directory = try makeTemporaryDirectory()
        let account = try runAccount(owning: directory)
        try await run("\(binaries)/initdb", ["-D", "\(directory)/data", "-U", "kabar", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"], as: account)
        let port = try freeLoopbackPort()
        let server = Process()
        (server.executableURL, server.arguments) = command("\(binaries)/postgres", [
            "-D", "\(directory)/data", "-p", "\(port)", "-k", directory,
            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "fsync=off",
            "-c", "full_page_writes=off", "-c", "logging_collector=off",
        ], as: account)
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        let cluster = PostgresCluster(port: port, directory: directory, binaries: binaries, server: server)
        running.withLock { $0 = cluster }
        atexit { PostgresCluster.stopRunning() }
        let deadline = ContinuousClock.now + .seconds(30 * testTimeScale)
        while try await run("\(binaries)/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)"], check: false) != 0 {
            guard server.isRunning, ContinuousClock.now < deadline else { throw PostgresClusterError.didNotStart }
            try await Task.sleep(for: .milliseconds(50))
        }
        return cluster
    }

    /// A new, empty database on the cluster.
    public func newDatabase() async throws -> PostgresLocation {
        let name = "kabar_test_\(databaseCount.withLock { $0 += 1; return $0 })"
        try await Self.run("\(binaries)/createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, name])
        return PostgresLocation(host: "127.0.0.1", port: port, username: user, database: name, sslMode: .disable)
    }

    /// The URL of a database, as `kabar-server --database` takes it.
    public func url(of location: PostgresLocation) -> String {
        "postgres://\(location.username)@\(location.host):\(location.port)/\(location.database)?sslmode=disable"
    }

    private static func stopRunning() {
        guard let cluster = running.withLock({ $0 }) else { return }
        // SIGQUIT: PostgreSQL's immediate shutdown; the data is thrown away anyway.
        kill(cluster.server.processIdentifier, SIGQUIT)
        cluster.server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: cluster.directory)
    }

    // MARK: - Processes

    /// The account to run PostgreSQL as: none (ourselves) unless we are root.
    private static func runAccount(owning directory: String) throws -> (uid: uid_t, gid: gid_t)? {
        guard getuid() == 0 else { return nil }
        guard let entry = getpwnam("postgres") ?? getpwnam("nobody") else { throw PostgresClusterError.noUnprivilegedUser }
        let account = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        guard chown(directory, account.0, account.1) == 0 else { throw PostgresClusterError.didNotStart }
        return account
    }

    private static func command(_ program: String, _ arguments: [String], as account: (uid: uid_t, gid: gid_t)?) -> (URL, [String]) {
        guard let account else { return (URL(fileURLWithPath: program), arguments) }
        return (
            URL(fileURLWithPath: "/usr/bin/setpriv"),
            ["--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--", program] + arguments
        )
    }

    @discardableResult
    private static func run(_ program: String, _ arguments: [String], as account: (uid: uid_t, gid: gid_t)? = nil, check: Bool = true)
        async throws -> Int32
    {
        let (executable, allArguments) = command(program, arguments, as: account)
        let result = try await runCommand(executable.path, allArguments)
        if check, result.status != 0 {
            throw PostgresClusterError.commandFailed(program, result.errorOutput + result.output)
        }
        return result.status
    }

    /// A port nothing listens on now (the kernel's pick for a socket bound to port 0),
    /// released at once for PostgreSQL to take.
    private static func freeLoopbackPort() throws -> Int {
        try ReservedPort().port
    }
}

public enum PostgresClusterError: Error {
    case notInstalled
    case noUnprivilegedUser
    case didNotStart
    case commandFailed(String, String)
}
