import Foundation
import KabarClient
import KabarCore
import KabarServer
import KabarSQLite
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

// MARK: - TestServer

/// A real Kabar server on 127.0.0.1 with an ephemeral port and a SQLite file in a fresh
/// temporary folder, with the seed's demo users.
public struct TestServer: Sendable {
    public let port: Int
    /// The TLS listener's port, when the server has one.
    public let tlsPort: Int?
    public let service: ChatService
    public let store: SQLiteChatStore
    public let databasePath: String
    let services: ServiceGroup

    /// Starts the graceful shutdown a SIGTERM would start (the server stops listening,
    /// answers what it has read and closes its connections).
    public func beginShutdown() async {
        await services.triggerGracefulShutdown()
    }

    /// Opens a client connection.
    public func connect() async throws -> KabarConnection {
        try await KabarConnection.connect(host: "127.0.0.1", port: port)
    }

    /// Opens a raw socket for byte-exact checks.
    public func rawClient(from localHost: String? = nil) async throws -> RawClient {
        try await RawClient.connect(port: port, localHost: localHost)
    }
}

/// Cheap scrypt for tests (the hash format and code path are the same).
public let testHashingParameters = ScryptPasswordHasher.Parameters(logRounds: 10, blockSize: 8, parallelism: 1)

/// A temporary folder for one test's database files.
public func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "kabar-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The size in bytes of the file at `path`; 0 if there is none.
public func fileSize(atPath path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
}

/// Runs `body` against a live server, then shuts the server down gracefully.
///
/// - Parameters:
///   - databasePath: reuse a database file (to test restarts); a fresh one by default.
///   - configure: adjusts the server configuration (port and host are set afterwards).
///   - wrapStore: puts another store (a ``GatedStore``) between the service and SQLite.
///   - openStore: opens the SQLite store at a path (by default with `normal` durability,
///     since most tests need no flush per commit).
public func withTestServer<T: Sendable>(
    databasePath: String? = nil,
    openStore: (String) throws -> SQLiteChatStore = { try SQLiteChatStore(path: $0, durability: .normal) },
    service serviceConfiguration: ChatServiceConfiguration = ChatServiceConfiguration(),
    clock: any WallClock = SystemWallClock(),
    configure: (inout KabarServerConfiguration) -> Void = { _ in },
    logHandler: (@Sendable (String) -> any LogHandler)? = nil,
    wrapStore: (SQLiteChatStore) -> any ChatStore = { $0 },
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let createdDirectory = databasePath == nil ? try makeTemporaryDirectory() : nil
    defer { if let createdDirectory { try? FileManager.default.removeItem(atPath: createdDirectory) } }
    let path = databasePath ?? (createdDirectory ?? "") + "/kabar.sqlite"
    let store = try openStore(path)
    let service = ChatService(
        store: wrapStore(store),
        hasher: ScryptPasswordHasher(parameters: testHashingParameters, pool: BlockingWorkPool(threadCount: 2)),
        configuration: serviceConfiguration,
        clock: clock
    )
    try await DemoUsers.ensureExist(in: service)

    var configuration = KabarServerConfiguration()
    configure(&configuration)
    configuration.host = "127.0.0.1"
    configuration.port = 0
    var logger = Logger(label: "kabar-test", factory: logHandler ?? { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .debug
    let (addresses, addressContinuation) = AsyncStream.makeStream(of: (Transport, SocketAddress).self)
    let server = KabarServer(
        configuration: configuration,
        service: service,
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        logger: logger,
        onListening: { addressContinuation.yield(($0, $1)) }
    )
    // A connection that never closes (a shutdown step missing) must fail its test, not
    // hang the run: past this bound the group is cancelled, which closes every connection.
    var groupConfiguration = ServiceGroupConfiguration(services: [SQLiteStoreService(store: store), server], logger: logger)
    groupConfiguration.maximumGracefulShutdownDuration = .seconds(20 * testTimeScale)
    let group = ServiceGroup(configuration: groupConfiguration)

    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        var ports: [Transport: Int] = [:]
        let expected = (configuration.isPlainListenerEnabled ? 1 : 0) + (configuration.tls == nil ? 0 : 1)
        while ports.count < expected {
            guard let (transport, address) = await iterator.next(), let port = address.port else {
                throw TestServerError.didNotStart
            }
            ports[transport] = port
        }
        let result: Result<T, any Error>
        do {
            result = .success(
                try await body(
                    TestServer(
                        port: ports[.plain] ?? 0,
                        tlsPort: ports[.tls],
                        service: service,
                        store: store,
                        databasePath: path,
                        services: group
                    )
                )
            )
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

public enum TestServerError: Error {
    case didNotStart
}
