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
    @Option(help: "Server port.") var port = 8889

    func run() async throws {
        let session = InteractiveSession(host: host, port: port)
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
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
