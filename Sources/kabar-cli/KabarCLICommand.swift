import ArgumentParser
import KabarClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - kabar-cli

/// The interactive client: reads commands, prints what the original client printed.
@main
struct KabarCLICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kabar-cli",
        abstract: "The Kabar chat client. Type `help` for the commands.",
        discussion: "With standard input from a file or a pipe there is no prompt: kabar-cli < script.txt"
    )

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port (default 8889, or 8890 with TLS).") var port: Int?
    @Flag(help: "Connect with TLS, trusting the system's certificate authorities.") var tls = false
    @Option(help: "Connect with TLS, trusting only the CA certificates in this PEM file.") var caFile: String?
    @Option(help: "The name to verify the server's certificate against (default: --host).") var serverName: String?
    @Flag(help: "Connect with TLS without verifying the server at all (testing only).") var insecure = false

    func run() async throws {
        var clientTLS: ClientTLS?
        if insecure {
            writeError("warning: --insecure: the server's identity is not verified; anyone on the network can read and change this session\n")
            clientTLS = ClientTLS(trust: .insecureAnything, serverName: serverName)
        } else if let caFile {
            clientTLS = ClientTLS(trust: .certificateAuthorityFile(caFile), serverName: serverName)
        } else if tls {
            clientTLS = ClientTLS(trust: .system, serverName: serverName)
        }
        let session = InteractiveSession(host: host, port: port ?? (clientTLS == nil ? 8889 : 8890), tls: clientTLS)
        let interactive = isatty(STDIN_FILENO) != 0
        while true {
            if interactive { write(session.prompt) }
            guard let line = readLine(strippingNewline: true) else { break }
            switch await session.handle(line) {
            case .print(let text): write(text + "\n")
            case .silent: continue
            case .quit: await session.close(); return
            }
        }
        if interactive { write("\n") }
        await session.close()
    }

    private func write(_ text: String) {
        writeAll(text, to: STDOUT_FILENO)
    }

    private func writeError(_ text: String) {
        writeAll(text, to: STDERR_FILENO)
    }

    private func writeAll(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let written = bytes[offset...].withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            #else
            let written = bytes[offset...].withUnsafeMutableBytes { Darwin.write(descriptor, $0.baseAddress, $0.count) }
            #endif
            guard written > 0 else { return }
            offset += written
        }
    }
}
