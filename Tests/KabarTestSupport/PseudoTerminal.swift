import Foundation
import KabarCore

#if canImport(Glibc)
import Glibc
#endif

// MARK: - TerminalProcess

/// One of the package's executables run in a pseudo-terminal, as a person at a terminal
/// runs it: it sees a terminal on standard input and output, the test types into it and
/// reads the screen's bytes.
public final class TerminalProcess: Sendable {
    private let process: Process
    private let controller: Int32
    private let output = Locked([UInt8]())

    public init(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var controller: Int32 = -1
        var terminal: Int32 = -1
        guard openpty(&controller, &terminal, nil, nil, nil) == 0 else { throw POSIXError(.ENOTTY) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: productPath(name))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let handle = FileHandle(fileDescriptor: terminal, closeOnDealloc: false)
        process.standardInput = handle
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        close(terminal)
        self.process = process
        self.controller = controller
        let output = self.output
        let descriptor = controller
        Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                guard count > 0 else { break }
                output.withLock { $0.append(contentsOf: buffer[..<count]) }
            }
        }.start()
    }

    /// Everything the program wrote to the terminal so far (with the terminal's echo of
    /// what was typed).
    public var screen: String { output.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Types `text` (end a line with "\n").
    public func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(controller, $0.baseAddress, $0.count) }
    }

    /// Waits until the screen holds `text`. - Returns: whether it did.
    @discardableResult
    public func waitFor(_ text: String, timeout: Duration = .seconds(10 * testTimeScale)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if screen.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        close(controller)
    }
}
