import Foundation
import KabarTestSupport
import Testing

/// The real `kabar-server` executable: demo users, admin commands, signals, logs.
@Suite("kabar-server process")
struct ServerProcessTests {
    @Test("an exited child's status is read before it is reaped: an exit code, or the signal that ended it")
    func unreapedExitStatus() async throws {
        for (script, expected) in [("exit 3", Int32(3)), ("kill -KILL $$", SIGKILL), ("exit 0", 0)] {
            var pid: pid_t = 0
            let words: [String] = ["/bin/sh", "-c", script]
            let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            defer { arguments.forEach { free($0) } }
            #expect(posix_spawn(&pid, "/bin/sh", nil, nil, arguments, environ) == 0)
            let deadline = ContinuousClock.now + .seconds(10)
            var status: Int32?
            while status == nil, ContinuousClock.now < deadline {
                status = ServerProcess.unreapedExitStatus(of: pid)
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(status == expected, "\(script)")
            var reaped: Int32 = 0
            #expect(waitpid(pid, &reaped, 0) == pid)
            #expect(ServerProcess.unreapedExitStatus(of: pid) == nil, "reaped: gone")
        }
    }

    @Test("--demo serves the seed's users; SIGTERM and SIGINT exit 0 and keep the data")
    func demoAndSignals() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        for signal in [SIGTERM, SIGINT] {
            let server = try await ServerProcess(arguments: ["--demo", "--database", database])
            let client = try await RawClient.connect(port: server.port)
            let token = try await client.login("messi")
            #expect(try await client.request("send henderson before \(signal)") == Expected.messageSent)
            #expect(try await server.stop(signal: signal) == 0)
            #expect(try await client.readUntilClosed() == "")
            #expect(server.log.contains("auth succeeded"))
            #expect(!server.log.contains(token))
            #expect(!server.log.contains("surabaya"))
        }
        let server = try await ServerProcess(arguments: ["--database", database])
        let henderson = try await RawClient.connect(port: server.port)
        _ = try await henderson.login("henderson")
        let inbox = try await henderson.request("inbox")
        #expect(inbox.contains("before \(SIGTERM)") && inbox.contains("before \(SIGINT)"))
        #expect(try await server.stop() == 0)
    }

    @Test("SIGTERM answers the requests already received, then exits 0")
    func shutdownAnswersInFlight() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--demo", "--database", database])
        let client = try await RawClient.connect(port: server.port)
        _ = try await client.login("messi")
        let count = 200
        try await client.send(String(repeating: "send henderson pesan\r\n", count: count))
        #expect(try await client.readReply() == Expected.messageSent)
        #expect(try await server.stop() == 0)
        let rest = try await client.readUntilClosed()
        let answered = 1 + rest.components(separatedBy: "\r\n\r\n").dropLast().count
        #expect(answered == count)
        #expect(rest.components(separatedBy: "\r\n\r\n").dropLast().allSatisfy { $0 + "\r\n\r\n" == Expected.messageSent })

        let restarted = try await ServerProcess(arguments: ["--database", database])
        let henderson = try await RawClient.connect(port: restarted.port)
        _ = try await henderson.login("henderson")
        #expect(try await henderson.request("inbox").components(separatedBy: "pesan").count - 1 == count)
        #expect(try await restarted.stop() == 0)
    }

    @Test("three servers with --demo and a `user add` started together on one new file: all succeed, schema and users made once")
    func startTogether() async throws {
        for round in 0..<5 {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let database = directory + "/kabar.sqlite"
            async let first = ServerProcess(arguments: ["--demo", "--database", database])
            async let second = ServerProcess(arguments: ["--demo", "--database", database])
            async let third = ServerProcess(arguments: ["--demo", "--database", database])
            async let add = runProduct(
                "kabar-server",
                ["user", "add", "budi", "--name", "Budi", "--country", "Indonesia", "--password-stdin", "--database", database],
                input: "rahasia123\n"
            )
            let servers = try await [first, second, third]
            for server in servers {
                let client = try await RawClient.connect(port: server.port)
                _ = try await client.login("messi")
                await client.close()
            }
            for status in try await servers.concurrentMap({ try await $0.stop() }) {
                #expect(status == 0, "round \(round)")
            }
            // Awaited once the servers are gone: a server spawned while `user add` was being
            // started may hold a copy of its output pipe, and reading that pipe to its end
            // waits for every holder to exit.
            let added = try await add
            #expect(added.status == 0, "round \(round): \(added.errorOutput)")
            let list = try await runProduct("kabar-server", ["user", "list", "--database", database])
            let usernames = list.output.split(separator: "\n").map { $0.split(separator: "\t").first.map(String.init) ?? "" }
            #expect(usernames == ["budi", "henderson", "lineker", "messi"], "round \(round)")
        }
    }

    @Test("user add, list, passwd and remove work on the database of a running server")
    func adminCommands() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(arguments: ["--database", database])
        let add = try await runProduct(
            "kabar-server",
            ["user", "add", "Budi", "--name", "Budi Santoso", "--country", "Indonesia", "--password-stdin", "--database", database],
            input: "rahasia123\n"
        )
        #expect(add.status == 0, "\(add.errorOutput)")
        let duplicate = try await runProduct(
            "kabar-server",
            ["user", "add", "budi", "--name", "B", "--country", "I", "--password-stdin", "--database", database],
            input: "rahasia123\n"
        )
        #expect(duplicate.status != 0)
        #expect(duplicate.errorOutput.contains("User Sudah Ada"))
        let list = try await runProduct("kabar-server", ["user", "list", "--database", database])
        #expect(list.output == "budi\tBudi Santoso\tIndonesia\n")

        let client = try await RawClient.connect(port: server.port)
        _ = try await client.login("budi", password: "rahasia123")
        let passwd = try await runProduct(
            "kabar-server", ["user", "passwd", "budi", "--password-stdin", "--database", database], input: "baru12345\n"
        )
        #expect(passwd.status == 0, "\(passwd.errorOutput)")
        #expect(try await client.request("inbox") == Expected.error("Session Tidak Ditemukan"))
        #expect(try await client.request("auth budi rahasia123") == Expected.error("Password Salah"))
        _ = try await client.login("budi", password: "baru12345")

        let remove = try await runProduct("kabar-server", ["user", "remove", "BUDI", "--database", database])
        #expect(remove.status == 0, "\(remove.errorOutput)")
        #expect(try await client.request("show") == Expected.error("Session Tidak Ditemukan"))
        #expect(try await client.request("auth budi baru12345") == Expected.error("User Tidak Ada"))
        let missing = try await runProduct("kabar-server", ["user", "remove", "budi", "--database", database])
        #expect(missing.status != 0)
        #expect(try await server.stop() == 0)
    }

    @Test("settings come from KABAR_* environment variables; unknown ones are ignored")
    func environment() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/kabar.sqlite"
        let server = try await ServerProcess(
            arguments: [],
            environment: [
                "KABAR_DATABASE": database, "KABAR_DEMO": "1", "KABAR_REGISTRATION": "closed",
                "KABAR_MAX_LINE_BYTES": "32", "KABAR_SOMETHING_ELSE": "x",
            ]
        )
        let client = try await RawClient.connect(port: server.port)
        _ = try await client.login("lineker")
        #expect(try await client.request("register budi rahasia123 B I") == Expected.error("Registrasi Ditutup"))
        #expect(try await client.request("ping " + String(repeating: "x", count: 40)) == Expected.error("Request Terlalu Panjang"))
        #expect(try await server.stop() == 0)
        #expect(FileManager.default.fileExists(atPath: database))
    }
}
