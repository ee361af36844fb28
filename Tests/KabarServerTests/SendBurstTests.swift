import KabarCore
import KabarProtocol
import KabarTestSupport
import Testing

/// A connection's pipelined `send`s go to the store as one unit of work (a ``SendBurst``),
/// each still checked, stored and answered on its own, in order.
@Suite("Pipelined sends as one unit of store work")
struct SendBurstTests {
    /// Runs `body` against a test server whose store records the bursts it is handed.
    private func withBurstRecordingServer(_ body: (TestServer, BurstRecordingStore) async throws -> Void) async throws {
        let recorder = Locked<BurstRecordingStore?>(nil)
        try await withTestServer(wrapStore: { store in
            let wrapper = BurstRecordingStore(wrapping: store)
            recorder.withLock { $0 = wrapper }
            return wrapper
        }) { server in
            try await body(server, try #require(recorder.withLock { $0 }))
        }
    }

    @Test("sends pipelined in one write reach the store together; every one is answered in its place, refusals too")
    func pipelinedSendsGoTogether() async throws {
        try await withBurstRecordingServer { server, store in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            let lines: [(String, String)] = [
                ("send henderson m1", Expected.messageSent),
                ("send henderson,lineker m2", Expected.messageSent),
                ("send nobody lost", Expected.error("User Tidak Ditemukan")),
                ("send henderson,nobody lost too", Expected.error("User Tidak Ditemukan")),
                ("send no/such lost as well", Expected.error("User Tidak Ditemukan")),
                ("send henderson    ", Expected.error("Pesan Kosong")),
                ("send henderson m3", Expected.messageSent),
                ("ping", Expected.pong),
                ("send lineker m4", Expected.messageSent),
                ("send henderson m5", Expected.messageSent),
            ]
            try await messi.send(lines.map { $0.0 + "\r\n" }.joined())
            for (line, expected) in lines {
                #expect(try await messi.readReply() == expected, "\(line)")
            }
            // The sends of one read go together (the service refuses two of the first seven
            // itself), and a lone send goes the single way. How the server's reads cut the
            // lines is the kernel's and NIO's choice, so only this much is certain:
            let sizes = store.burstSizes
            #expect(sizes.max() ?? 0 > 1 && sizes.reduce(0, +) <= 7, "\(sizes)")

            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            let inbox = try await henderson.request("inbox")
            let positions = Expected.positions(ofMessages: ["m1", "m2", "m3", "m5"], inInbox: inbox)
            #expect(positions.allSatisfy { $0 != nil } && positions == positions.sorted { $0! < $1! })
            #expect(!inbox.contains("lost"))
            let lineker = try await server.rawClient()
            _ = try await lineker.login("lineker")
            let linekers = try await lineker.request("inbox")
            #expect(Expected.positions(ofMessages: ["m2", "m4"], inInbox: linekers).allSatisfy { $0 != nil })
            #expect(!linekers.contains("lost"))
        }
    }

    @Test("a burst of sends and a request behind it that reads the store: the request sees every send of the burst")
    func requestBehindBurstSeesIt() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            let count = 40
            try await messi.send((0..<count).map { "send messi s\($0)\r\n" }.joined() + "inbox\r\n")
            for _ in 0..<count { #expect(try await messi.readReply() == Expected.messageSent) }
            let inbox = try await messi.readReply()
            let positions = Expected.positions(ofMessages: (0..<count).map { "s\($0)" }, inInbox: inbox)
            #expect(positions.allSatisfy { $0 != nil } && positions == positions.sorted { $0! < $1! })
        }
    }

    @Test("a burst that names one session, then another, then the bound one: each send is from the session it names")
    func burstSwitchesSessions() async throws {
        try await withBurstRecordingServer { server, store in
            let messi = try await server.rawClient()
            let messisToken = try await messi.login("messi")
            let linekersToken = try await server.rawClient().login("lineker")
            // A token binds the connection to its session (PROTOCOL.md, "Bound connections"),
            // so "send henderson b2" is Lineker's, and "a3" Messi's again.
            let lines = [
                "send henderson a1", "send \(linekersToken) henderson b1", "send henderson b2",
                "send \(messisToken) henderson a2", "send henderson a3",
            ]
            try await messi.send(lines.map { $0 + "\r\n" }.joined())
            for line in lines { #expect(try await messi.readReply() == Expected.messageSent, "\(line)") }
            #expect(store.burstSizes.max() ?? 0 > 1, "\(store.burstSizes)")

            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            func message(_ text: String, from sender: String) -> String {
                #"{"msg_from": "\#(sender)", "msg_to": "Jordan Henderson", "msg": "\#(text)"}"#
            }
            let messis = ["a1", "a2", "a3"].map { message($0, from: "Lionel Messi") }.joined(separator: ", ")
            let linekers = ["b1", "b2"].map { message($0, from: "Gary Lineker") }.joined(separator: ", ")
            #expect(
                try await henderson.request("inbox")
                    == #"{"status": "OK", "messages": {"messi": [\#(messis)], "lineker": [\#(linekers)]}}"# + "\r\n\r\n"
            )
        }
    }
}
