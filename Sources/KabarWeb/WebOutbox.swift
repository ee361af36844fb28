import HummingbirdWebSocket
import KabarCore

// MARK: - WebOutbox

/// Everything written to one WebSocket, in order: replies (whose writer waits for them to
/// go out, so a client that reads nothing stops being read) and events (which never wait,
/// and of which at most ``WebGatewayConfiguration/heldEventLimit`` bytes are held before
/// the connection is closed as a slow subscriber).
final class WebOutbox: Sendable {
    private enum Item {
        case reply(String, CheckedContinuation<Void, any Error>)
        case event(String)
    }

    private struct State {
        var items: [Item] = []
        var heldEventBytes = 0
        var isWriting = false
        var isClosed = false
    }

    private let state = Locked(State())
    private let writer: WebSocketOutboundWriter
    private let onOverflow: @Sendable () -> Void

    /// - Parameter onOverflow: called once if the held events pass the limit.
    init(writer: WebSocketOutboundWriter, onOverflow: @escaping @Sendable () -> Void) {
        self.writer = writer
        self.onOverflow = onOverflow
    }

    /// Writes a reply after everything queued before it; returns once it is written.
    func reply(_ text: String) async throws {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(.reply(text, continuation))
        }
    }

    /// Queues event frames; false (and nothing is queued) once the limit is passed.
    @discardableResult
    func events(_ texts: [String]) -> Bool {
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        let overflowed = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            guard state.heldEventBytes + bytes <= WebGatewayConfiguration.heldEventLimit else {
                state.isClosed = true
                return true
            }
            state.heldEventBytes += bytes
            return false
        }
        if overflowed {
            onOverflow()
            return false
        }
        for text in texts { enqueue(.event(text)) }
        return true
    }

    /// Stops writing: what is queued is dropped, waiting replies fail.
    func close() {
        let dropped = state.withLock { state -> [Item] in
            state.isClosed = true
            defer { state.items = [] }
            return state.items
        }
        for case .reply(_, let continuation) in dropped { continuation.resume(throwing: CancellationError()) }
    }

    private func enqueue(_ item: Item) {
        let startsWriter = state.withLock { state -> Bool in
            guard !state.isClosed else {
                if case .reply(_, let continuation) = item { continuation.resume(throwing: CancellationError()) }
                return false
            }
            state.items.append(item)
            guard !state.isWriting else { return false }
            state.isWriting = true
            return true
        }
        if startsWriter { Task { await writeQueued() } }
    }

    /// Writes until the queue is empty; one writer at a time.
    private func writeQueued() async {
        while let item = state.withLock({ state -> Item? in
            guard !state.items.isEmpty else {
                state.isWriting = false
                return nil
            }
            return state.items.removeFirst()
        }) {
            switch item {
            case .reply(let text, let continuation):
                do {
                    try await writer.write(.text(text))
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            case .event(let text):
                try? await writer.write(.text(text))
                state.withLock { $0.heldEventBytes -= text.utf8.count }
            }
        }
    }
}
