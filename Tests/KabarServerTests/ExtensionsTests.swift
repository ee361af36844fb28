import Foundation
import KabarCore
import KabarTestSupport
import Testing

/// PROTOCOL.md, "Extensions": bound connections, many recipients, registration, ping.
@Suite("Extensions")
struct ExtensionsTests {
    @Test("bound connections: the seed's own commands typed into a raw socket")
    func boundConnection() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            #expect(try await client.request("send henderson hi") == Expected.error("not authorized"))
            #expect(try await client.request("inbox") == Expected.error("not authorized"))
            #expect(try await client.request("show") == Expected.error("not authorized"))
            #expect(try await client.request("logout") == Expected.error("not authorized"))
            let token = try await client.login("messi")
            #expect(try await client.request("send henderson hello gimana kabarnya son") == Expected.messageSent)
            #expect(try await client.request("inbox") == Expected.emptyInbox)
            #expect(try await client.request("logout") == Expected.okMessage(token))
            #expect(try await client.request("inbox") == Expected.error("not authorized"))
        }
    }

    @Test("a token binds the connection; a later token or auth rebinds it")
    func rebinding() async throws {
        try await withTestServer { server in
            let owner = try await server.rawClient()
            let borrower = try await server.rawClient()
            let messiToken = try await owner.login("messi")
            #expect(try await borrower.request("inbox \(messiToken)") == Expected.emptyInbox)
            #expect(try await borrower.request("send henderson from messi") == Expected.messageSent)
            let linekerToken = try await borrower.login("lineker")
            #expect(try await borrower.request("send henderson from lineker") == Expected.messageSent)
            #expect(try await borrower.request("logout") == Expected.okMessage(linekerToken))
            // An invalid token does not unbind; messi's own connection is still bound.
            #expect(try await owner.request("inbox not-a-token") == Expected.error("Session Tidak Ditemukan"))
            #expect(try await owner.request("inbox") == Expected.emptyInbox)

            let henderson = try await server.rawClient()
            _ = try await henderson.login("henderson")
            let inbox = try await henderson.request("inbox")
            #expect(inbox.contains(#""messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "from messi"}]"#))
            #expect(inbox.contains(#""lineker": [{"msg_from": "Gary Lineker", "msg_to": "Jordan Henderson", "msg": "from lineker"}]"#))
        }
    }

    @Test("many recipients: comma list, duplicates dropped, atomic, at most 100")
    func manyRecipients() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            _ = try await messi.login("messi")
            #expect(try await messi.request("send henderson,Lineker,HENDERSON halo semua") == Expected.messageSent)
            #expect(try await messi.request("send henderson,nobody,lineker not delivered") == Expected.error("User Tidak Ditemukan"))
            #expect(try await messi.request("send henderson, trailing comma") == Expected.error("User Tidak Ditemukan"))

            let many = (0..<101).map { "user\($0)" }.joined(separator: ",")
            #expect(try await messi.request("send \(many) hi") == Expected.error("Terlalu Banyak Penerima"))
            #expect(try await messi.request("send \(many)") == Expected.error("Pesan Kosong"))
            let hundredDistinct = (0..<99).map { "user\($0)" } + ["henderson"]
            let withDuplicates = (hundredDistinct + ["henderson", "HENDERSON"]).joined(separator: ",")
            #expect(try await messi.request("send \(withDuplicates) hi") == Expected.error("User Tidak Ditemukan"))
            for index in 0..<99 {
                try await server.service.createUser(
                    Username("user\(index)")!,
                    password: "password\(index)",
                    profile: Profile(name: "User \(index)", country: "Test")!
                )
            }
            #expect(try await messi.request("send \(withDuplicates) to a hundred") == Expected.messageSent)

            for name in ["henderson", "lineker"] {
                let client = try await server.rawClient()
                _ = try await client.login(name)
                let reply = try await client.request("inbox")
                #expect(reply.contains(#""msg": "halo semua""#))
                #expect(!reply.contains("not delivered"))
                #expect(!reply.contains("trailing comma"))
                #expect(reply.components(separatedBy: "halo semua").count == 2)
                #expect(reply.contains("to a hundred") == (name == "henderson"))
            }
            let user7 = try await server.rawClient()
            _ = try await user7.login("user7", password: "password7")
            #expect(try await user7.request("inbox").components(separatedBy: "to a hundred").count == 2)
        }
    }

    @Test("register: creates an account that can log in; errors in the documented order")
    func register() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            #expect(try await client.request(#"register Budi rahasia123 "Budi Santoso" Indonesia"#) == Expected.okMessage("User Registered"))
            #expect(Expected.token(inAuthReply: try await client.request("auth budi rahasia123")) != nil)
            #expect(try await client.request("register budi rahasia123 Budi Indonesia") == Expected.error("User Sudah Ada"))
            #expect(try await client.request("register MESSI rahasia123 X Y") == Expected.error("User Sudah Ada"))
            #expect(try await client.request("register -bad rahasia123 X Y") == Expected.error("Username Tidak Valid"))
            #expect(try await client.request("register \(String(repeating: "a", count: 33)) rahasia123 X Y") == Expected.error("Username Tidak Valid"))
            #expect(try await client.request("register ok.name_1-x short X Y") == Expected.error("Password Tidak Valid"))
            #expect(try await client.request("register ok rahasia123 \"\" Y") == Expected.error("Profil Tidak Valid"))
            #expect(try await client.request("register -bad short X Y") == Expected.error("Username Tidak Valid"))
            #expect(try await client.request("register a b c") == Expected.error("Protocol Tidak Benar"))
            #expect(try await client.request("register \(String(repeating: "a", count: 32)) \(String(repeating: "p", count: 256)) X Y") == Expected.okMessage("User Registered"))
            #expect(try await client.request("register toolong \(String(repeating: "p", count: 257)) X Y") == Expected.error("Password Tidak Valid"))
            // Registering does not log in; the earlier auth bound the connection to budi.
            #expect(try await client.request("show").contains(#"{"username": "budi", "name": "Budi Santoso", "negara": "Indonesia"}"#))
        }
    }

    @Test("register when the server has closed registration")
    func registrationClosed() async throws {
        try await withTestServer(service: ChatServiceConfiguration(isRegistrationOpen: false)) { server in
            let client = try await server.rawClient()
            #expect(try await client.request("register -bad x X Y") == Expected.error("Registrasi Ditutup"))
            #expect(try await client.request("register budi rahasia123 X Y") == Expected.error("Registrasi Ditutup"))
            #expect(try await client.request("register a b c") == Expected.error("Protocol Tidak Benar"))
        }
    }

    @Test("ping works with or without a session and ignores words")
    func ping() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            #expect(try await client.request("ping") == Expected.pong)
            #expect(try await client.request("PING not-a-token whatever") == Expected.pong)
            _ = try await client.login("messi")
            #expect(try await client.request("ping") == Expected.pong)
        }
    }
}
