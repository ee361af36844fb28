import KabarProtocol
import KabarTestSupport
import Testing

/// PROTOCOL.md, "Compatible core", end to end over real sockets, byte for byte.
@Suite("Compatible core")
struct CompatibleCoreTests {
    @Test("the seed session, as the original client sends it")
    func seedSession() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            let henderson = try await server.rawClient()
            let auth = try await messi.request("auth messi surabaya ")
            let token = try #require(Expected.token(inAuthReply: auth))
            #expect(SessionToken(token)?.text == token)

            // The original client sends "send TOKEN TO  words... \r\n" (note the double space).
            #expect(try await messi.request("send \(token) henderson  hello gimana kabarnya son ") == Expected.messageSent)
            #expect(try await messi.request("send \(token) henderson  woi ") == Expected.messageSent)

            let hendersonToken = try await henderson.login("henderson")
            #expect(
                try await henderson.request("inbox \(hendersonToken) ")
                    == #"{"status": "OK", "messages": {"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello gimana kabarnya son"}, {"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "woi"}]}}"#
                    + "\r\n\r\n"
            )
            #expect(try await henderson.request("inbox \(hendersonToken)") == Expected.emptyInbox)
            #expect(
                try await messi.request("show \(token) ")
                    == #"{"status": "OK", "message": [{"username": "messi", "name": "Lionel Messi", "negara": "Argentina"}, {"username": "henderson", "name": "Jordan Henderson", "negara": "Inggris"}]}"#
                    + "\r\n\r\n"
            )
            #expect(try await messi.request("logout \(token) ") == Expected.okMessage(token))
            #expect(try await messi.request("inbox \(token)") == Expected.error("Session Tidak Ditemukan"))
        }
    }

    @Test("auth errors, case folding and extra words")
    func auth() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            #expect(try await client.request("auth pele x") == Expected.error("User Tidak Ada"))
            #expect(try await client.request("auth messi salah") == Expected.error("Password Salah"))
            #expect(try await client.request("auth messi SURABAYA") == Expected.error("Password Salah"))
            #expect(try await client.request("auth") == Expected.error("Protocol Tidak Benar"))
            #expect(try await client.request("auth messi") == Expected.error("Protocol Tidak Benar"))
            #expect(Expected.token(inAuthReply: try await client.request("AUTH Messi surabaya extra")) != nil)
            #expect(Expected.token(inAuthReply: try await client.request("\t auth   MESSI\tsurabaya  ")) != nil)
        }
    }

    @Test("each auth gives a fresh token; sessions of one user are independent")
    func severalSessions() async throws {
        try await withTestServer { server in
            let phone = try await server.rawClient()
            let laptop = try await server.rawClient()
            let first = try await phone.login("messi")
            let second = try await laptop.login("messi")
            #expect(first != second)
            #expect(try await phone.request("logout \(first)") == Expected.okMessage(first))
            #expect(try await laptop.request("inbox \(second)") == Expected.emptyInbox)
            #expect(try await laptop.request("inbox \(first)") == Expected.error("Session Tidak Ditemukan"))
        }
    }

    @Test("send: errors in the documented order")
    func sendErrors() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            let token = try await client.login("messi")
            let stranger = "00000000-0000-4000-8000-000000000000"
            #expect(try await client.request("send") == Expected.error("Protocol Tidak Benar"))
            #expect(try await client.request("send \(token)") == Expected.error("Protocol Tidak Benar"))
            #expect(try await client.request("send \(stranger) nobody") == Expected.error("Session Tidak Ditemukan"))
            #expect(try await client.request("send \(token) nobody") == Expected.error("Pesan Kosong"))
            #expect(try await client.request("send \(token) henderson    ") == Expected.error("Pesan Kosong"))
            #expect(try await client.request("send \(token) nobody hi") == Expected.error("User Tidak Ditemukan"))
            #expect(try await client.request("send \(token) Henderson hi") == Expected.messageSent)
            #expect(try await client.request("send \(token.uppercased()) lineker hi") == Expected.messageSent)
        }
    }

    @Test("message text: trimmed, inner spacing, UTF-8 and control characters (NUL too) kept")
    func messageText() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            let henderson = try await server.rawClient()
            let token = try await messi.login("messi")
            _ = try await henderson.login("henderson")
            #expect(try await messi.request("send \(token) henderson \t  halo   apa\tkabar ünïcode 😀 \u{01} \u{0}nul \"q\" \\ ") == Expected.messageSent)
            #expect(
                try await henderson.request("inbox")
                    == #"{"status": "OK", "messages": {"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "halo   apa\tkabar ünïcode 😀 \u0001 \u0000nul \"q\" \\"}]}}"#
                    + "\r\n\r\n"
            )
        }
    }

    @Test("inbox groups: ordered by each sender's earliest unread message; read messages are not returned again")
    func inboxOrder() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            let lineker = try await server.rawClient()
            let henderson = try await server.rawClient()
            _ = try await messi.login("messi")
            _ = try await lineker.login("lineker")
            _ = try await henderson.login("henderson")
            #expect(try await lineker.request("send henderson L1") == Expected.messageSent)
            #expect(try await messi.request("send henderson M1") == Expected.messageSent)
            #expect(try await lineker.request("send henderson L2") == Expected.messageSent)
            #expect(try await henderson.request("send henderson H1") == Expected.messageSent)
            let expected =
                #"{"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Jordan Henderson", "msg": "L1"}, {"msg_from": "Gary Lineker", "msg_to": "Jordan Henderson", "msg": "L2"}], "messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "M1"}], "henderson": [{"msg_from": "Jordan Henderson", "msg_to": "Jordan Henderson", "msg": "H1"}]}}"#
                + "\r\n\r\n"
            #expect(try await henderson.request("inbox") == expected)
            #expect(try await henderson.request("inbox") == Expected.emptyInbox)
            #expect(try await messi.request("send henderson M2") == Expected.messageSent)
            #expect(
                try await henderson.request("inbox")
                    == #"{"status": "OK", "messages": {"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "M2"}]}}"#
                    + "\r\n\r\n"
            )
        }
    }

    @Test("inbox, show and logout: any first word is a token")
    func tokenWords() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            _ = try await client.login("messi")
            for command in ["inbox", "show", "logout"] {
                #expect(try await client.request("\(command) not-a-token") == Expected.error("Session Tidak Ditemukan"))
                #expect(
                    try await client.request("\(command) 11111111-2222-4333-8444-555555555555")
                        == Expected.error("Session Tidak Ditemukan")
                )
            }
        }
    }

    @Test("unknown commands and missing words get Protocol Tidak Benar; replies follow request order")
    func unknown() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            try await client.send("hello\r\nregister a b c\r\nAUTH\r\nping\r\n")
            #expect(
                try await client.readReplies(4) == [
                    Expected.error("Protocol Tidak Benar"), Expected.error("Protocol Tidak Benar"),
                    Expected.error("Protocol Tidak Benar"), Expected.pong,
                ]
            )
        }
    }

    @Test("logout ends the session on every connection, other sessions untouched")
    func logoutEverywhere() async throws {
        try await withTestServer { server in
            let a = try await server.rawClient()
            let b = try await server.rawClient()
            let c = try await server.rawClient()
            let token = try await a.login("messi")
            let other = try await c.login("messi")
            #expect(try await b.request("inbox \(token)") == Expected.emptyInbox)
            #expect(try await a.request("logout") == Expected.okMessage(token))
            #expect(try await b.request("inbox") == Expected.error("Session Tidak Ditemukan"))
            #expect(try await b.request("inbox") == Expected.error("not authorized"))
            #expect(try await a.request("send \(token) henderson hi") == Expected.error("Session Tidak Ditemukan"))
            #expect(try await c.request("inbox \(other)") == Expected.emptyInbox)
        }
    }
}
