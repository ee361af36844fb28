import Foundation
import KabarClient
import KabarProtocol
import KabarTestSupport
import Testing

/// `kabar-cli` as a process against a real server: it prints what the seed prints.
@Suite("kabar-cli")
struct KabarCLITests {
    /// Replaces every token in `text` with TOKEN.
    private func maskingTokens(_ text: String) -> String {
        text.replacing(/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/, with: "TOKEN")
    }

    @Test("the seed session, line for line")
    func seedSession() async throws {
        try await withTestServer { server in
            let henderson = try await server.connect()
            _ = try await henderson.auth(username: "henderson", password: "surabaya")
            let script = """
                inbox
                auth pele x
                auth messi salah
                auth messi surabaya
                send henderson hello gimana kabarnya son
                send nobody hi
                show
                logout
                show

                """
            let result = try await runProduct("kabar-cli", ["--port", "\(server.port)"], input: script)
            #expect(result.status == 0)
            #expect(result.errorOutput.isEmpty)
            #expect(
                maskingTokens(result.output) == """
                    Error, not authorized
                    Error, User Tidak Ada
                    Error, Password Salah
                    username messi logged in, token TOKEN 
                    message sent to henderson
                    Error, User Tidak Ditemukan
                    Daftar User Online
                        username              name     negara
                    0  henderson  Jordan Henderson    Inggris
                    1      messi      Lionel Messi  Argentina
                    Logout berhasil dilakukan dengan session id :
                    "TOKEN"
                    Error, not authorized

                    """
            )
            let reader = """
                auth henderson surabaya
                inbox
                inbox

                """
            let inbox = try await runProduct("kabar-cli", ["--port", "\(server.port)"], input: reader)
            #expect(
                maskingTokens(inbox.output) == """
                    username henderson logged in, token TOKEN 
                    {"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello gimana kabarnya son"}]}
                    {}

                    """
            )
        }
    }

    @Test("show with three users, UTF-8 output, other commands and errors")
    func threeUsersAndMore() async throws {
        try await withTestServer { server in
            for name in ["messi", "henderson"] {
                let connection = try await server.connect()
                _ = try await connection.auth(username: name, password: "surabaya")
                _ = connection
            }
            let script = """
                ping
                register Budi rahasia123 "Budi Santoso" Indonesia
                auth lineker surabaya
                show
                send lineker halo ünïcode 😀
                inbox
                send
                bogus command
                help
                quit
                ping
                """
            let result = try await runProduct("kabar-cli", ["--port", "\(server.port)"], input: script)
            #expect(result.status == 0)
            let lines = maskingTokens(result.output).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(Array(lines.prefix(11)) == [
                "PONG",
                "User Registered",
                "username lineker logged in, token TOKEN ",
                "Daftar User Online",
                "    username              name     negara",
                "0      messi      Lionel Messi  Argentina",
                "1  henderson  Jordan Henderson    Inggris",
                "2    lineker      Gary Lineker    Inggris",
                "message sent to lineker",
                #"{"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Gary Lineker", "msg": "halo ünïcode 😀"}]}"#,
                "Error, Protocol Tidak Benar",
            ])
            #expect(lines[11] == "Error, Protocol Tidak Benar")
            #expect(lines[12] == "Commands:")
            #expect(lines.filter { $0 == "PONG" }.count == 1, "nothing runs after quit")
        }
    }

    @Test("a lost server connection gives an error line, not a crash")
    func lostConnection() async throws {
        // A port where nothing listens, held so that no other test's server takes it
        // (the port of a stopped test server could be reused while this test runs).
        let closed = try ReservedPort()
        let port = closed.port
        let result = try await runProduct("kabar-cli", ["--port", "\(port)"], input: "auth messi surabaya\nping\n")
        withExtendedLifetime(closed) {}
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.hasPrefix("Error, no connection to the server at 127.0.0.1:\(port)") })
    }

    @Test("the prompt: Command : before login, Command TOKEN: after")
    func prompt() async throws {
        let session = InteractiveSession(host: "127.0.0.1", port: 1)
        #expect(session.prompt == "Command :")
        try await withTestServer { server in
            let session = InteractiveSession(host: "127.0.0.1", port: server.port)
            guard case .print(let text) = await session.handle("auth messi surabaya") else {
                Issue.record("no output")
                return
            }
            let token = try #require(session.token)
            #expect(text == "username messi logged in, token \(token.text) ")
            #expect(session.prompt == "Command \(token.text):")
            #expect(await session.handle("   ") == .silent)
            #expect(await session.handle("exit") == .quit)
            await session.close()
        }
    }
}

@Suite("kabar-cli at a terminal")
struct KabarCLITerminalTests {
    @Test("two clients in pseudo-terminals: one types a message, the other sees it appear under its prompt")
    func liveMessageAppears() async throws {
        try await withTestServer { server in
            let environment = ["TZ": "UTC"]
            let henderson = try TerminalProcess("kabar-cli", ["--port", "\(server.port)"], environment: environment)
            let messi = try TerminalProcess("kabar-cli", ["--port", "\(server.port)"], environment: environment)
            #expect(await henderson.waitFor("Command :"))
            henderson.type("auth henderson surabaya\n")
            #expect(await henderson.waitFor("username henderson logged in, token "))
            messi.type("auth messi surabaya\n")
            #expect(await messi.waitFor("username messi logged in, token "))
            let promptsBefore = henderson.screen.components(separatedBy: "Command ").count

            messi.type("send henderson hello gimana kabarnya son\n")
            #expect(await messi.waitFor("message sent to henderson"))
            #expect(await henderson.waitFor("] messi: hello gimana kabarnya son\r\n"))
            let screen = henderson.screen
            // The line is on its own (the prompt's line cleared first), and the prompt comes back.
            let line = try #require(screen.firstMatch(of: /\r\x1B\[K\[\d\d:\d\d\] messi: hello gimana kabarnya son\r\n/))
            #expect(screen[line.range.upperBound...].hasPrefix("Command "))
            #expect(screen.components(separatedBy: "Command ").count == promptsBefore + 1)
            // The seed's own outputs stay as they were.
            henderson.type("inbox\n")
            #expect(await henderson.waitFor(#"{"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello gimana kabarnya son"}]}"#))
            henderson.type("history messi\n")
            #expect(await henderson.waitFor("] messi: hello gimana kabarnya son\r\nCommand "))
            messi.type("quit\n")
            henderson.type("quit\n")
        }
    }
}
