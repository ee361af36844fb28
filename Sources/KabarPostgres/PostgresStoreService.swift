import ServiceLifecycle

// MARK: - PostgresStoreService

/// Keeps the store's pool open while the server runs and closes it at shutdown.
///
/// List it before the server in a `ServiceGroup`: shutdown runs in reverse order, so the
/// server answers its last requests before the pool closes.
public struct PostgresStoreService: Service {
    public let store: PostgresChatStore

    public init(store: PostgresChatStore) {
        self.store = store
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
