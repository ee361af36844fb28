import ServiceLifecycle

// MARK: - SQLiteStoreService

/// Keeps the store open while the server runs and closes it cleanly at shutdown.
///
/// List it before the server in a `ServiceGroup`: shutdown runs in reverse order, so the
/// server answers its last requests before the store closes.
public struct SQLiteStoreService: Service {
    public let store: SQLiteChatStore

    public init(store: SQLiteChatStore) {
        self.store = store
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
