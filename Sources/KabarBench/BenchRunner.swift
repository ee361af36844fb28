import KabarClient
import KabarProtocol
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

// MARK: - BenchRunner

/// Runs a benchmark: registers missing bench users, opens the connections, drives the
/// closed loop and collects the statistics.
public struct BenchRunner: Sendable {
    public let configuration: BenchConfiguration

    public init(configuration: BenchConfiguration) {
        self.configuration = configuration
    }

    /// Runs the benchmark.
    /// - Parameter progress: called about four times a second with the replies so far.
    public func run(progress: (@Sendable (Int, Duration) -> Void)? = nil) async throws -> BenchReport {
        let tokens = try await registerUsers()
        let requestLimit: Int? =
            switch configuration.limit {
            case .requests(let count): count
            case .duration: nil
            }
        let shared = BenchShared(requestLimit: requestLimit)
        let isPush = configuration.operation == .push
        shared.sending.store(isPush ? BenchConfiguration.pushSenders(configuration) : configuration.connections, ordering: .relaxed)
        #if os(Linux)
        if configuration.tls == nil, !isPush {
            return try await runOnSockets(shared: shared, tokens: tokens, progress: progress)
        }
        #endif
        return try await runOnNIO(shared: shared, tokens: tokens, progress: progress)
    }

    /// Through SwiftNIO: TLS, and `--op push` with its subscribers.
    private func runOnNIO(
        shared: BenchShared,
        tokens: [SessionToken],
        progress: (@Sendable (Int, Duration) -> Void)?
    ) async throws -> BenchReport {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        defer { group.shutdownGracefully { _ in } }
        var connections: [(channel: any Channel, loggedIn: EventLoopFuture<Void>, done: EventLoopFuture<BenchStatistics>)] = []
        for index in 0..<configuration.connections {
            connections.append(try await connect(index: index, group: group, shared: shared, tokens: tokens))
        }
        for connection in connections { try await connection.loggedIn.get() }
        return try await measure(shared: shared, progress: progress) {
            for connection in connections { connection.channel.pipeline.fireUserInboundEventTriggered(BenchStartEvent()) }
        } collect: {
            var total = BenchStatistics()
            for connection in connections { total.merge(try await connection.done.get()) }
            return total
        }
    }

    #if os(Linux)
    /// Plain TCP without SwiftNIO (``BenchSocketDriver``): `threads` threads, each driving
    /// every `threads`-th connection.
    private func runOnSockets(
        shared: BenchShared,
        tokens: [SessionToken],
        progress: (@Sendable (Int, Duration) -> Void)?
    ) async throws -> BenchReport {
        let threads = max(1, min(configuration.threads, configuration.connections))
        let allocator = ByteBufferAllocator()
        let drivers = try (0..<threads).map { thread in
            let workloads = stride(from: thread, to: configuration.connections, by: threads).map { index in
                BenchWorkload(configuration: configuration, connectionIndex: index, token: tokens[index % tokens.count], allocator: allocator)
            }
            return try BenchSocketDriver(
                host: configuration.host,
                port: configuration.port,
                workloads: workloads,
                pipeline: configuration.pipeline,
                shared: shared
            )
        }
        // A thread each: a driver's loop blocks its thread until the run ends.
        let threadPool = NIOThreadPool(numberOfThreads: drivers.count)
        threadPool.start()
        defer { threadPool.shutdownGracefully { _ in } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for driver in drivers { group.addTask { try await threadPool.runIfActive { try driver.logIn() } } }
            try await group.waitForAll()
        }
        // Started once the measured span is fixed, as the SwiftNIO connections get their start event.
        var running: [Task<BenchStatistics, any Error>] = []
        return try await measure(shared: shared, progress: progress) {
            running = drivers.map { driver in Task { try await threadPool.runIfActive { driver.run() } } }
        } collect: {
            var total = BenchStatistics()
            for task in running { total.merge(try await task.value) }
            return total
        }
    }
    #endif

    /// Starts the measured span (`start` sets the connections going), reports progress,
    /// and reports what `collect` gathers once every connection is done.
    private func measure(
        shared: BenchShared,
        progress: (@Sendable (Int, Duration) -> Void)?,
        start: () -> Void,
        collect: () async throws -> BenchStatistics
    ) async throws -> BenchReport {
        let clock = ContinuousClock()
        let started = clock.now
        let warmup = UInt64(configuration.warmup.nanoseconds)
        let duration: UInt64? =
            switch configuration.limit {
            case .duration(let duration): UInt64(duration.nanoseconds)
            case .requests: nil
            }
        shared.start(at: NIODeadline.now().uptimeNanoseconds, warmup: warmup, duration: duration)
        start()
        let reporter = progress.map { report in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    report(shared.replies.load(ordering: .relaxed), clock.now - started)
                }
            }
        }
        let total = try await collect()
        reporter?.cancel()
        let measured = (clock.now - started) - configuration.warmup
        return BenchReport(configuration: configuration, statistics: total, elapsed: measured)
    }

    private func connect(index: Int, group: any EventLoopGroup, shared: BenchShared, tokens: [SessionToken]) async throws
        -> (channel: any Channel, loggedIn: EventLoopFuture<Void>, done: EventLoopFuture<BenchStatistics>)
    {
        let tlsContext = try configuration.tls.map { try $0.makeContext() }
        let serverHostname = configuration.tls?.serverHostname(connectingTo: configuration.host)
        let configuration = self.configuration
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname)
                        )
                    }
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .get()
        let (loggedIn, done) = try await channel.eventLoop.submit {
            let loggedIn = channel.eventLoop.makePromise(of: Void.self)
            let done = channel.eventLoop.makePromise(of: BenchStatistics.self)
            let senders = BenchConfiguration.pushSenders(configuration)
            if configuration.operation == .push, index >= senders {
                // A subscriber, logged in as one of the users the senders write to.
                let token = tokens[(index - senders) % BenchConfiguration.pushUsers(configuration)]
                let subscribe = channel.allocator.buffer(string: "subscribe \(token.text)\r\n")
                try channel.pipeline.syncOperations.addHandler(
                    BenchSubscriberHandler(subscribe: subscribe, shared: shared, subscribed: loggedIn, done: done)
                )
                return (loggedIn.futureResult, done.futureResult)
            }
            let user = configuration.operation == .push
                ? BenchConfiguration.pushSenderUser(configuration, connectionIndex: index) : index
            let workload = BenchWorkload(
                configuration: configuration,
                connectionIndex: index,
                token: tokens[user % tokens.count],
                allocator: channel.allocator
            )
            let handler = BenchConnectionHandler(
                workload: workload,
                pipeline: configuration.pipeline,
                shared: shared,
                loggedIn: loggedIn,
                done: done
            )
            try channel.pipeline.syncOperations.addHandler(handler)
            return (loggedIn.futureResult, done.futureResult)
        }.get()
        return (channel, loggedIn, done)
    }

    /// Creates `bench-0` … `bench-(users-1)` with `register` (existing ones are kept) and
    /// logs each in once. - Returns: their tokens, which the connections bind to.
    private func registerUsers() async throws -> [SessionToken] {
        let connection = try await KabarConnection.connect(host: configuration.host, port: configuration.port, tls: configuration.tls)
        do {
            let tokens = try await registerUsers(on: connection)
            try await connection.close()
            return tokens
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private func registerUsers(on connection: KabarConnection) async throws -> [SessionToken] {
        for index in 0..<max(1, configuration.users) {
            let request = Request.register(
                username: BenchConfiguration.username(index),
                password: BenchConfiguration.password,
                name: "Bench User \(index)",
                country: "Bench"
            )
            switch try await connection.execute(request) {
            case .success: continue
            case .failure(let refusal) where refusal.refusal == .userExists: continue
            case .failure(let refusal): throw BenchError.setupFailed(refusal.message)
            }
        }
        var tokens: [SessionToken] = []
        for index in 0..<max(1, configuration.users) {
            let token = try await connection.auth(username: BenchConfiguration.username(index), password: BenchConfiguration.password)
            // A mixed load measures the steady state: inboxes left full by earlier runs
            // are emptied first, not timed.
            if configuration.operation == .mix || configuration.operation == .push { _ = try await connection.inbox(token: token) }
            tokens.append(token)
        }
        return tokens
    }
}

/// Why a benchmark could not run.
public enum BenchError: Error, CustomStringConvertible {
    case setupFailed(String)
    case loginRefused
    case connectionLost

    public var description: String {
        switch self {
        case .setupFailed(let message): "could not register the bench users: \(message)"
        case .loginRefused: "the server refused a bench user's auth"
        case .connectionLost: "a connection closed before it logged in"
        }
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
