import Foundation
import KabarTestSupport
import Testing

/// Stop the server and start a new one on the same database file.
@Suite("Restart")
struct RestartTests {
    @Test("users, unread messages and tokens survive a restart; read messages stay read")
    func restart() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/kabar.sqlite"
        let (token, hendersonToken) = try await withTestServer(databasePath: path) { server in
            let messi = try await server.rawClient()
            let henderson = try await server.rawClient()
            let token = try await messi.login("messi")
            let hendersonToken = try await henderson.login("henderson")
            #expect(try await messi.request(#"register budi rahasia123 "Budi Santoso" Indonesia"#) == Expected.okMessage("User Registered"))
            #expect(try await messi.request("send henderson,budi sebelum restart") == Expected.messageSent)
            #expect(try await messi.request("send henderson sudah dibaca") == Expected.messageSent)
            _ = try await henderson.request("inbox")
            #expect(try await messi.request("send henderson belum dibaca") == Expected.messageSent)
            return (token, hendersonToken)
        }
        try await withTestServer(databasePath: path) { server in
            let messi = try await server.rawClient()
            #expect(try await messi.request("show \(token)").contains(#""username": "messi""#))
            let henderson = try await server.rawClient()
            #expect(
                try await henderson.request("inbox \(hendersonToken)")
                    == #"{"status": "OK", "messages": {"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "belum dibaca"}]}}"#
                    + "\r\n\r\n"
            )
            let budi = try await server.rawClient()
            _ = try await budi.login("budi", password: "rahasia123")
            #expect(try await budi.request("inbox").contains("sebelum restart"))
        }
    }
}
