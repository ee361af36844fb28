import Foundation
import KabarBench
import KabarClient
import KabarProtocol
import KabarServer
import KabarTestSupport
import NIOSSL
import Testing

/// PROTOCOL.md, "Encryption": the same protocol inside TLS, certificates made at test time.
@Suite("TLS")
final class TLSTests {
    let directory: String
    let certificates: TestCertificates

    init() throws {
        directory = try makeTemporaryDirectory()
        certificates = try TestCertificates.generate(in: directory)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func withTLSServer<T: Sendable>(
        plain: Bool = true,
        certificates: TestCertificates? = nil,
        _ body: (TestServer, TLSCredentials) async throws -> T
    ) async throws -> T {
        let certificates = certificates ?? self.certificates
        let credentials = try TLSCredentials(
            certificatePath: certificates.certificatePath,
            privateKeyPath: certificates.privateKeyPath
        )
        return try await withTestServer(configure: {
            $0.isPlainListenerEnabled = plain
            $0.tls = TLSListenerConfiguration(port: 0, credentials: credentials)
        }) { server in
            try await body(server, credentials)
        }
    }

    func connect(_ port: Int, trusting authority: String, host: String = "localhost") async throws -> KabarConnection {
        try await KabarConnection.connect(host: host, port: port, tls: ClientTLS(trust: .certificateAuthorityFile(authority)))
    }

    @Test("kabar-bench over TLS (through SwiftNIO): every request answered, none lost")
    func benchOverTLS() async throws {
        try await withTLSServer { server, _ in
            var configuration = BenchConfiguration()
            configuration.host = "localhost"
            configuration.port = try #require(server.tlsPort)
            configuration.tls = ClientTLS(trust: .certificateAuthorityFile(certificates.authorityPath))
            configuration.connections = 3
            configuration.users = 2
            configuration.pipeline = 4
            configuration.limit = .requests(300)
            configuration.operation = .ping
            let report = try await BenchRunner(configuration: configuration).run()
            #expect(report.completed == 300)
            #expect(report.errors == 0)
        }
    }

    @Test("the seed session over TLS, by host name and by IP address")
    func seedSession() async throws {
        try await withTLSServer { server, _ in
            let tlsPort = try #require(server.tlsPort)
            let messi = try await connect(tlsPort, trusting: certificates.authorityPath)
            let henderson = try await connect(tlsPort, trusting: certificates.authorityPath, host: "127.0.0.1")
            let token = try await messi.auth(username: "messi", password: "surabaya")
            try await messi.sendMessage("hello gimana kabarnya son", to: ["henderson"], token: token)
            _ = try await henderson.auth(username: "henderson", password: "surabaya")
            #expect(
                try await henderson.inbox() == [
                    InboxGroup(
                        sender: "messi",
                        messages: [InboxMessage(fromName: "Lionel Messi", toName: "Jordan Henderson", text: "hello gimana kabarnya son")]
                    )
                ]
            )
            #expect(try await messi.onlineUsers().map(\.username) == ["messi", "henderson"])
            #expect(try await messi.logout() == token)
            // The plain listener serves the same data.
            let plain = try await server.rawClient()
            _ = try await plain.login("messi")
            #expect(try await plain.request("show").contains("henderson"))
        }
    }

    @Test("a client that trusts another CA, or checks another name, is refused; the server is unharmed")
    func untrusted() async throws {
        let other = try TestCertificates.generate(in: directory, name: "other")
        try await withTLSServer { server, _ in
            let tlsPort = try #require(server.tlsPort)
            let stranger = try await connect(tlsPort, trusting: other.authorityPath)
            await #expect(throws: (any Error).self) { try await stranger.ping() }
            let friend = try await connect(tlsPort, trusting: certificates.authorityPath)
            try await friend.ping()
            let careless = try await KabarConnection.connect(host: "127.0.0.1", port: tlsPort, tls: ClientTLS(trust: .insecureAnything))
            try await careless.ping()
        }
    }

    @Test("the certificate must name the host the client asked for")
    func hostName() async throws {
        let namesOnly = try TestCertificates.generate(in: directory, name: "names-only", includesLoopbackAddress: false)
        try await withTLSServer(certificates: namesOnly) { server, _ in
            let tlsPort = try #require(server.tlsPort)
            let trust = ClientTLS.Trust.certificateAuthorityFile(namesOnly.authorityPath)
            for (host, serverName) in [("127.0.0.1", "kabar.example"), ("127.0.0.1", nil)] as [(String, String?)] {
                let client = try await KabarConnection.connect(host: host, port: tlsPort, tls: ClientTLS(trust: trust, serverName: serverName))
                await #expect(throws: (any Error).self, "\(host) as \(serverName ?? "itself")") { try await client.ping() }
            }
            let named = try await KabarConnection.connect(host: "127.0.0.1", port: tlsPort, tls: ClientTLS(trust: trust, serverName: "localhost"))
            try await named.ping()
        }
    }

    @Test("a plaintext client on the TLS port is disconnected without a reply; others are unharmed")
    func plaintextOnTLSPort() async throws {
        try await withTLSServer { server, _ in
            let tlsPort = try #require(server.tlsPort)
            let friend = try await connect(tlsPort, trusting: certificates.authorityPath)
            _ = try await friend.auth(username: "messi", password: "surabaya")
            let confused = try await RawClient.connect(port: tlsPort)
            try await confused.send("auth messi surabaya\r\n")
            let answer = try await confused.readUntilClosed()
            #expect(!answer.contains("status"))
            #expect(try await friend.inbox() == [])
        }
    }

    @Test("an eavesdropper between client and server sees no message, password or token")
    func wireCapture() async throws {
        try await withTLSServer { server, _ in
            let relay = try await TCPRelay(forwardingTo: try #require(server.tlsPort))
            let secret = "rahasia sekali: pertemuan jam tujuh"
            let client = try await connect(relay.port, trusting: certificates.authorityPath)
            let token = try await client.auth(username: "messi", password: "surabaya")
            try await client.sendMessage(secret, to: ["messi"], token: token)
            #expect(try await client.inbox().first?.messages.first?.text == secret)
            let captured = relay.capturedBytes
            #expect(captured.count > 500)
            for needle in [secret, "surabaya", token.text, "Lionel Messi", "status"] {
                #expect(captured.firstRange(of: Array(needle.utf8)) == nil, "\(needle) crossed the wire in clear")
            }
            await relay.close()

            // The control: the same through the plain port is readable on the wire.
            let plainRelay = try await TCPRelay(forwardingTo: server.port)
            let plain = try await KabarConnection.connect(host: "127.0.0.1", port: plainRelay.port)
            _ = try await plain.auth(username: "messi", password: "surabaya")
            #expect(plainRelay.capturedBytes.firstRange(of: Array("surabaya".utf8)) != nil)
            await plainRelay.close()
        }
    }

    @Test("with the plain listener off only TLS is served")
    func tlsOnly() async throws {
        try await withTLSServer(plain: false) { server, _ in
            #expect(server.port == 0)
            let client = try await connect(try #require(server.tlsPort), trusting: certificates.authorityPath)
            try await client.ping()
        }
    }

    @Test("a graceful shutdown reads and answers a TLS connection's requests for the drain time, then closes it")
    func gracefulShutdown() async throws {
        try await withTLSServer { server, _ in
            let client = try await connect(try #require(server.tlsPort), trusting: certificates.authorityPath)
            let token = try await client.auth(username: "messi", password: "surabaya")
            await server.beginShutdown()
            // The drain handler is added to the connection's pipeline at shutdown, behind
            // the TLS handler: the connection keeps being served for the drain time (one
            // second), and closed after it, however busy the client.
            try await client.sendMessage("sampai jumpa", to: ["henderson"], token: token)
            let deadline = ContinuousClock.now + .seconds(10 * testTimeScale)
            var isClosed = false
            while !isClosed, ContinuousClock.now < deadline {
                do {
                    try await client.ping()
                    try await Task.sleep(for: .milliseconds(50))
                } catch {
                    isClosed = true
                }
            }
            #expect(isClosed, "the connection was still served \(10 * testTimeScale) s into the shutdown")
        }
    }

    @Test("reloading credentials serves the new certificate to new connections and keeps open ones")
    func reload() async throws {
        try await withTLSServer { server, credentials in
            let tlsPort = try #require(server.tlsPort)
            let before = try await connect(tlsPort, trusting: certificates.authorityPath)
            _ = try await before.auth(username: "messi", password: "surabaya")
            let renewed = try TestCertificates.generate(in: directory, name: "renewed")
            try FileManager.default.removeItem(atPath: certificates.certificatePath)
            try FileManager.default.copyItem(atPath: renewed.certificatePath, toPath: certificates.certificatePath)
            try FileManager.default.removeItem(atPath: certificates.privateKeyPath)
            try FileManager.default.copyItem(atPath: renewed.privateKeyPath, toPath: certificates.privateKeyPath)
            try credentials.reload()
            try await before.ping()
            #expect(try await before.inbox() == [])
            let after = try await connect(tlsPort, trusting: renewed.authorityPath)
            try await after.ping()
            let stale = try await connect(tlsPort, trusting: certificates.authorityPath)
            await #expect(throws: (any Error).self) { try await stale.ping() }
        }
    }
}
