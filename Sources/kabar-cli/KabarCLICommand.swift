import ArgumentParser
import Foundation
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
    @Flag(
        inversion: .prefixedNo,
        help: "Show incoming messages as they arrive (default: on at a terminal, off when input is piped)."
    )
    var live: Bool?

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
        let interactive = isatty(STDIN_FILENO) != 0
        let console = Console(showsPrompt: interactive)
        let showsLive = live ?? interactive
        let showLive: @Sendable (String) -> Void = { line in console.showLive(line) }
        let onLiveLine = showsLive ? showLive : nil
        let session = InteractiveSession(
            host: host,
            port: port ?? (clientTLS == nil ? 8889 : 8890),
            tls: clientTLS,
            onLiveLine: onLiveLine
        )
        for await line in StandardInput.lines() {
            console.commandStarted()
            switch await session.handle(line) {
            case .print(let text): console.show(text, then: session.prompt)
            case .silent: console.show(nil, then: session.prompt)
            case .quit: await session.close(); return
            }
        }
        console.finish()
        await session.close()
    }

    private func writeError(_ text: String) {
        writeAll(text, to: STDERR_FILENO)
    }
}

// MARK: - Console

/// The terminal: command output, the prompt, and incoming messages that must not land
/// inside either. A message that comes while the user is at the prompt is printed on a
/// line of its own and the prompt is shown again; one that comes while a command runs is
/// printed after the command's output.
final class Console: @unchecked Sendable {
    // `@unchecked Sendable`: every mutable property is read and written with `lock` held
    // (an NSLock: a pthread mutex, which the thread sanitizer understands).
    private let lock = NSLock()
    private var prompt = "Command :"
    private var isAtPrompt = false
    private var waitingLines: [String] = []
    private let showsPrompt: Bool

    init(showsPrompt: Bool) {
        self.showsPrompt = showsPrompt
        showPrompt()
    }

    /// A line was read: output from now on belongs to its command.
    func commandStarted() {
        lock.withLock { isAtPrompt = false }
    }

    /// The output of a command (nil for none), then any messages that came meanwhile, then
    /// the prompt.
    func show(_ text: String?, then newPrompt: String) {
        lock.withLock {
            writeAll((text.map { $0 + "\n" } ?? "") + waitingLines.map { $0 + "\n" }.joined(), to: STDOUT_FILENO)
            waitingLines = []
            prompt = newPrompt
        }
        showPrompt()
    }

    /// An incoming message.
    func showLive(_ line: String) {
        lock.withLock {
            guard isAtPrompt else { return waitingLines.append(line) }
            // Back to the start of the prompt's line, clear it, print, prompt again.
            writeAll((showsPrompt ? "\r\u{1B}[K" : "") + line + "\n" + (showsPrompt ? prompt : ""), to: STDOUT_FILENO)
        }
    }

    /// End of input.
    func finish() {
        if showsPrompt { writeAll("\n", to: STDOUT_FILENO) }
    }

    private func showPrompt() {
        lock.withLock {
            isAtPrompt = true
            if showsPrompt { writeAll(prompt, to: STDOUT_FILENO) }
        }
    }
}

// MARK: - Standard input

enum StandardInput {
    /// The lines of standard input, read on a thread of their own so that incoming
    /// messages are shown while the user types.
    static func lines() -> AsyncStream<String> {
        AsyncStream { continuation in
            Thread {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }.start()
        }
    }
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
