import ServiceLifecycle

// MARK: - PostgresNodeService

/// Keeps a node among the nodes while the server runs; at shutdown, once the server has
/// closed its connections, removes it, so that its users are offline at once.
///
/// List it after the store and before the server in a `ServiceGroup`.
public struct PostgresNodeService: Service {
    public let node: PostgresNode

    public init(node: PostgresNode) {
        self.node = node
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await node.leave()
    }
}
