import KabarCore
import Foundation

// MARK: - Products

/// Where SwiftPM put the executables of this package (beside the test bundle).
public func productPath(_ name: String) -> String {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    if directory.lastPathComponent == "MacOS" {  // a macOS .xctest bundle
        directory = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    return directory.appendingPathComponent(name).path
}

// MARK: - ServerProcess

/// A real `kabar-server` process on a free port, with its standard error captured.
public final class ServerProcess: Sendable {
    /// The plain listener's port (0 if it is off).
    public let port: Int
    /// The TLS listener's port, if there is one.
    public let tlsPort: Int?
    /// The operations port (`--metrics-port`), if there is one.
    public let operationsPort: Int?
    /// The web port (`--http-port`), if there is one.
    public let httpPort: Int?
    private let process: Process
    private let errorOutput: LineCollector

    /// Starts `kabar-server serve --port 0 ARGUMENTS` and waits until it listens.
    /// - Parameter listeners: how many listeners to wait for (2 with TLS and plain, one more
    ///   with the operations port).
    public init(arguments: [String], environment: [String: String] = [:], listeners: Int = 1) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: productPath("kabar-server"))
        process.arguments = ["serve", "--port", "0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let collector = LineCollector()
        collector.collect(from: pipe.fileHandleForReading)
        try process.run()
        self.process = process
        self.errorOutput = collector

        let deadline = ContinuousClock.now + .seconds(30 * testTimeScale)
        var ports: [String: Int] = [:]
        // The web and operations ports count only when asked for (a `--demo` server may
        // serve the web client on 8080 besides).
        let counted = Set(["plain", "tls"])
            .union(arguments.contains("--http-port") ? ["http", "https"] : [])
            .union(arguments.contains("--metrics-port") ? ["operations"] : [])
        while ports.count < listeners {
            for line in collector.text.split(separator: "\n") where line.contains("listening") {
                let fields = line.split(separator: " ")
                guard let transport = fields.first(where: { $0.hasPrefix("transport=") })?.dropFirst(10),
                    counted.contains(String(transport)),
                    let address = fields.first(where: { $0.hasPrefix("address=") }),
                    let port = address.split(separator: ":").last.flatMap({ Int($0) })
                else { continue }
                ports[String(transport)] = port
            }
            guard ports.count < listeners else { break }
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.terminate()
                throw ServerProcessError.didNotStart(log: collector.text)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        self.port = ports["plain"] ?? 0
        self.tlsPort = ports["tls"]
        self.operationsPort = ports["operations"]
        self.httpPort = ports["http"] ?? ports["https"]
    }

    /// Whether the process has not exited yet.
    public var isRunning: Bool { exitStatus == nil }

    /// Its exit status once it has exited, reaped by `Process` or not (see
    /// ``unreapedExitStatus(of:)``); nil while it runs.
    private var exitStatus: Int32? {
        process.isRunning ? Self.unreapedExitStatus(of: process.processIdentifier) : process.terminationStatus
    }

    /// The server's process id.
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Everything the server wrote to standard error so far.
    public var log: String { errorOutput.text }

    /// Sends `signal` and waits for the process to exit. - Returns: its exit status.
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(15 * testTimeScale)) async throws -> Int32 {
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw ServerProcessError.didNotStop(log: log)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The exit status of a process that has exited and was not reaped yet
    /// (`Process.terminationStatus`'s terms: the exit code, or the signal that ended it);
    /// nil while it runs. `Process` reaps its children on a queue of its own, which under
    /// the thread sanitizer, with four servers and PostgreSQL on two cores, once lagged a
    /// SIGKILLed server by more than a minute. Linux keeps the status of an exited,
    /// unreaped process (state `Z`) in the 52nd field of `/proc/PID/stat`.
    public static func unreapedExitStatus(of processIdentifier: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(processIdentifier)/stat", encoding: .utf8),
            let endOfName = stat.lastIndex(of: ")")
        else { return nil }
        // From the third field on: the state first, the exit code 50 fields later.
        let fields = stat[stat.index(after: endOfName)...].split(separator: " ")
        guard fields.count > 49, fields[0] == "Z", let code = Int32(fields[49].trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return code & 0x7F == 0 ? (code >> 8) & 0xFF : code & 0x7F
    }

    deinit {
        if isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

public enum ServerProcessError: Error {
    case didNotStart(log: String)
    case didNotStop(log: String)
}

/// Text arriving from a pipe.
final class LineCollector: Sendable {
    private let data = Locked((bytes: Data(), ended: false))

    func append(_ chunk: Data, ended: Bool = false) {
        data.withLock {
            $0.bytes.append(chunk)
            if ended { $0.ended = true }
        }
    }

    var text: String { data.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

    /// Whether the pipe reached its end.
    var hasEnded: Bool { data.withLock { $0.ended } }

    /// Collects what `handle` gives until its end, read on a thread of its own, which keeps
    /// the handle (and so its file descriptor) open until then.
    ///
    /// Not a `readabilityHandler`: tearing one down races libdispatch's read source, and
    /// now and then crashed the whole test process on Linux ("Bad pointer dereference" in
    /// `_dispatch_event_loop_drain`, swiftlang/swift-corelibs-foundation#5507).
    func collect(from handle: FileHandle) {
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    append(Data(buffer[..<count]))
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    return append(Data(), ended: true)
                }
            }
        }.start()
    }
}

// MARK: - Running a command

/// The outcome of a finished command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var output: String
    public var errorOutput: String
}

/// Runs one of the package's executables with `input` on standard input, to completion.
public func runProduct(
    _ name: String,
    _ arguments: [String],
    input: String = "",
    timeout: Duration = .seconds(60)
) async throws -> CommandResult {
    try await runCommand(productPath(name), arguments, input: input, timeout: timeout)
}

/// Runs a program with `input` on standard input, to completion, without ever blocking a
/// thread of the cooperative pool (two on a two-core machine: a test that blocks one for
/// the length of a command slows every other test).
///
/// Its output is what came through the pipes until the program exited and the pipes
/// reached their end, or a second after the exit at most: a process that another test
/// started meanwhile can inherit a pipe's write end and keep it open.
public func runCommand(
    _ executable: String,
    _ arguments: [String],
    input: String = "",
    environment: [String: String] = [:],
    timeout: Duration = .seconds(60)
) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    let output = LineCollector()
    let errorOutput = LineCollector()
    output.collect(from: stdout.fileHandleForReading)
    errorOutput.collect(from: stderr.fileHandleForReading)
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        guard ContinuousClock.now < deadline else {
            process.terminate()
            break
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    let drained = ContinuousClock.now + .seconds(1)
    while !(output.hasEnded && errorOutput.hasEnded), ContinuousClock.now < drained {
        try await Task.sleep(for: .milliseconds(5))
    }
    while process.isRunning { try await Task.sleep(for: .milliseconds(5)) }
    return CommandResult(status: process.terminationStatus, output: output.text, errorOutput: errorOutput.text)
}
