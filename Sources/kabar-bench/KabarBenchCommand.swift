import ArgumentParser
import KabarBench
import KabarClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - kabar-bench

/// A load generator for Kabar, in the spirit of redis-benchmark.
@main
struct KabarBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kabar-bench",
        abstract: "Load-test a Kabar server: closed loop, latency per request, redis-benchmark style output."
    )

    @Option(name: .shortAndLong, help: "Server address.") var host = "127.0.0.1"
    @Option(name: .shortAndLong, help: "Server port.") var port = 8889
    @Option(name: .shortAndLong, help: "Parallel connections.") var connections = 50
    @Option(name: [.customShort("n"), .long], help: "Requests to measure (ignored with --duration).") var requests = 100_000
    @Option(help: "Seconds to measure, instead of a request count.") var duration: Double?
    @Option(name: [.customShort("P"), .long], help: "Requests in flight per connection.") var pipeline = 1
    @Option(help: "send, inbox, mix (9 send : 1 inbox), auth, ping, show or push (senders and subscribers).") var op: String = "send"
    @Option(help: "With --op push: how many of the connections subscribe (default: half).") var subscribers: Int?
    @Option(help: "Message size in bytes.") var size = 32
    @Option(help: "Recipients per send.") var recipients = 1
    @Option(help: "Bench users bench-0…; registered when missing.") var users = 50
    @Option(help: "Seconds of load before measuring.") var warmup: Double = 0
    @Option(help: "Threads of the load generator, each driving a share of the connections.") var threads = 1
    @Flag(help: "Connect with TLS (system trust store).") var tls = false
    @Option(help: "Connect with TLS, trusting the CA certificates in this PEM file.") var caFile: String?
    @Flag(help: "Connect with TLS without verifying the server.") var insecure = false
    @Flag(help: "Print the result as JSON.") var json = false

    func run() async throws {
        guard let operation = BenchConfiguration.Operation(rawValue: op) else {
            throw ValidationError("--op must be one of \(BenchConfiguration.Operation.allCases.map(\.rawValue))")
        }
        var configuration = BenchConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.connections = connections
        configuration.limit = duration.map { .duration(.milliseconds(Int64($0 * 1000))) } ?? .requests(requests)
        configuration.pipeline = pipeline
        configuration.operation = operation
        configuration.messageSize = size
        configuration.recipients = recipients
        configuration.users = users
        configuration.subscribers = subscribers
        configuration.warmup = .milliseconds(Int64(warmup * 1000))
        configuration.threads = threads
        if insecure {
            configuration.tls = ClientTLS(trust: .insecureAnything)
        } else if let caFile {
            configuration.tls = ClientTLS(trust: .certificateAuthorityFile(caFile))
        } else if tls {
            configuration.tls = ClientTLS(trust: .system)
        }

        let interactive = isatty(STDOUT_FILENO) != 0 && !json
        let operationName = op
        var progress: (@Sendable (Int, Duration) -> Void)?
        if interactive {
            progress = { replies, elapsed in showProgress(operationName, replies: replies, elapsed: elapsed) }
        }
        let report = try await BenchRunner(configuration: configuration).run(progress: progress)
        if interactive { print("\r", terminator: "") }
        print(json ? report.json : report.text)
    }
}

/// The live progress line on a terminal, rewritten in place.
private func showProgress(_ operation: String, replies: Int, elapsed: Duration) {
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = seconds > 0 ? Int(Double(replies) / seconds) : 0
    var bytes = Array("\r\(operation): \(replies) replies, \(rate) per second (overall)   ".utf8)
    _ = write(STDOUT_FILENO, &bytes, bytes.count)
}
