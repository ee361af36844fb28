import Foundation
import KabarClient
import KabarTestSupport
import Testing

/// TLS through the real executables: `kabar-server --tls-cert`, `kabar-cli --ca-file`, SIGHUP.
@Suite("TLS processes")
struct TLSProcessTests {
    @Test("kabar-cli over TLS replays the seed session; --insecure warns; an untrusted server is refused")
    func cliOverTLS() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try TestCertificates.generate(in: directory)
        let stranger = try TestCertificates.generate(in: directory, name: "stranger")
        let server = try await ServerProcess(
            arguments: [
                "--demo", "--database", directory + "/kabar.sqlite", "--tls-cert", certificates.certificatePath,
                "--tls-key", certificates.privateKeyPath, "--tls-port", "0",
            ],
            listeners: 2
        )
        let tlsPort = try #require(server.tlsPort)
        let session = try await runProduct(
            "kabar-cli",
            ["--host", "localhost", "--port", "\(tlsPort)", "--ca-file", certificates.authorityPath],
            input: "auth messi surabaya\nsend henderson halo lewat TLS\nshow\n"
        )
        let lines = session.output.split(separator: "\n")
        #expect(lines.count == 5, "\(session.output)\(session.errorOutput)")
        #expect(lines.first?.hasPrefix("username messi logged in, token ") == true)
        #expect(Array(lines.dropFirst()) == [
            "message sent to henderson", "Daftar User Online", "  username          name     negara",
            "0    messi  Lionel Messi  Argentina",
        ])

        let insecure = try await runProduct("kabar-cli", ["--port", "\(tlsPort)", "--insecure"], input: "ping\n")
        #expect(insecure.output == "PONG\n")
        #expect(insecure.errorOutput.contains("warning: --insecure"))

        let refused = try await runProduct(
            "kabar-cli",
            ["--host", "localhost", "--port", "\(tlsPort)", "--ca-file", stranger.authorityPath],
            input: "ping\n"
        )
        #expect(refused.status == 0)
        #expect(refused.output.hasPrefix("Error, no connection to the server at localhost:\(tlsPort)"))
        #expect(try await server.stop() == 0)
    }

    @Test("SIGHUP reloads the certificate; --no-plain serves TLS only")
    func reloadOnSIGHUP() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try TestCertificates.generate(in: directory)
        let server = try await ServerProcess(
            arguments: [
                "--database", directory + "/kabar.sqlite", "--no-plain", "--tls-cert", certificates.certificatePath,
                "--tls-key", certificates.privateKeyPath, "--tls-port", "0",
            ],
            listeners: 1
        )
        #expect(server.port == 0)
        let tlsPort = try #require(server.tlsPort)
        let early = try await KabarConnection.connect(
            host: "localhost", port: tlsPort, tls: ClientTLS(trust: .certificateAuthorityFile(certificates.authorityPath))
        )
        try await early.ping()

        let renewed = try TestCertificates.generate(in: directory, name: "renewed")
        for (from, to) in [(renewed.certificatePath, certificates.certificatePath), (renewed.privateKeyPath, certificates.privateKeyPath)] {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        kill(server.processIdentifier, SIGHUP)
        for _ in 0..<500 where !server.log.contains("TLS certificate reloaded") {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(server.log.contains("TLS certificate reloaded"))
        try await early.ping()
        let fresh = try await KabarConnection.connect(
            host: "localhost", port: tlsPort, tls: ClientTLS(trust: .certificateAuthorityFile(renewed.authorityPath))
        )
        try await fresh.ping()
        #expect(try await server.stop() == 0)
    }
}
