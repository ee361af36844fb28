import KabarCore
import KabarProtocol
import KabarTestSupport
import Testing

/// PROTOCOL.md: a connection's requests take effect in the order it sent them, also when
/// it sends the next before the last one's reply. Here the store runs what it is handed in
/// any order (``ReorderingStore``), as a pool of database connections would: the order is
/// the connection's to keep.
@Suite("Request order on one connection")
struct RequestOrderTests {
    @Test("pipelined sends to oneself and an inbox behind them: every send in order, all of them in the inbox")
    func pipelinedSendsStayInOrder() async throws {
        try await withTestServer(wrapStore: { ReorderingStore(wrapping: $0) }) { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            let count = 60
            let lines = (0..<count).map { "send messi,henderson m\($0)\r\n" }.joined() + "inbox\r\n"
            try await messi.send(lines)
            for _ in 0..<count { #expect(try await messi.readReply() == Expected.messageSent) }
            #expect(try Self.texts(inInbox: try await messi.readReply()) == (0..<count).map { "m\($0)" })

            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            #expect(try Self.texts(inInbox: try await henderson.request("inbox")) == (0..<count).map { "m\($0)" })
        }
    }

    /// The texts of an inbox reply, in the order it lists them.
    private static func texts(inInbox text: String) throws -> [String] {
        guard case .success(.inbox(let groups)) = try ReplyDecoder.decode(text, answering: .inbox(session: .bound)) else {
            Issue.record("not an inbox: \(text)")
            return []
        }
        return groups.flatMap { $0.messages.map(\.text) }
    }
}
