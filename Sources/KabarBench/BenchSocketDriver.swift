#if os(Linux)
import CKabarEpoll
import Glibc
import NIOCore
import Synchronization

// MARK: - BenchSocketDriver

/// Plain-TCP bench connections driven by one thread over `epoll`, without SwiftNIO.
///
/// A load generator shares the cores with the server it measures, so whatever it spends
/// per request is taken from the server. Through SwiftNIO each read and each write of a
/// connection costs a pass through a channel pipeline. That is about 3.5 µs of user time per
/// request at c50 P1 on an Intel Xeon, against chatload's 0.45 µs, with the same number of
/// system calls (BENCHMARKS.md, run V). Here a read goes straight to the connection's
/// ``BenchLoop`` and its requests straight to `send`, as chatload does.
///
/// `@unchecked Sendable`: it is used by one thread at a time. ``BenchRunner`` runs
/// ``logIn()`` and then ``run()`` each on a thread of a `NIOThreadPool`, and starts the
/// second only after the first returned. The kabar-bench tests run it so, under the thread sanitizer in CI.
final class BenchSocketDriver: @unchecked Sendable {
    private struct Connection {
        let descriptor: Int32
        var loop: BenchLoop
        /// What `send` did not take yet; sent when the socket is writable again.
        var unwritten: ByteBuffer?
        /// Whether `epoll` reports the socket writable (only while something is unwritten).
        var isWatchingWrites = false
        var isOpen = true
    }

    private var connections: [Connection] = []
    private let poll: Int32
    private let shared: BenchShared
    private let allocator = ByteBufferAllocator()
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 64)
    private var open = 0

    /// Opens one connection for each workload to `host`:`port`, blocking until each is
    /// connected. - Throws: ``BenchSocketError`` if the address does not resolve or a
    /// connection fails.
    init(host: String, port: Int, workloads: [BenchWorkload], pipeline: Int, shared: BenchShared) throws {
        self.shared = shared
        poll = epoll_create1(Int32(EPOLL_CLOEXEC))
        // On a throw, `deinit` closes what was opened.
        guard poll >= 0 else { throw BenchSocketError.system("epoll_create1", errno) }
        let address = try Self.resolve(host: host, port: port)
        for workload in workloads {
            let descriptor = try Self.connect(to: address)
            connections.append(Connection(descriptor: descriptor, loop: BenchLoop(workload: workload, pipeline: pipeline)))
            open += 1
            var event = epoll_event()
            event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            event.data.u64 = UInt64(connections.count - 1)
            guard epoll_ctl(poll, EPOLL_CTL_ADD, descriptor, &event) == 0 else { throw BenchSocketError.system("epoll_ctl", errno) }
        }
    }

    deinit {
        for connection in connections where connection.isOpen { Glibc.close(connection.descriptor) }
        if poll >= 0 { Glibc.close(poll) }
        readBuffer.deallocate()
        events.deallocate()
    }

    /// Binds every connection to its session and returns once all of them are.
    /// - Throws: ``BenchError/loginRefused`` or ``BenchError/connectionLost``.
    func logIn() throws {
        let now = NIODeadline.now().uptimeNanoseconds
        for index in connections.indices {
            if let login = connections[index].loop.logIn(at: now) { send(login, on: index) }
        }
        while true {
            var isWaiting = false
            for connection in connections {
                switch connection.loop.phase {
                case .loggingIn: isWaiting = true
                case .ready, .running: continue
                case .finished: throw connection.isOpen ? BenchError.loginRefused : BenchError.connectionLost
                }
            }
            guard isWaiting else { return }
            serveEvents()
        }
    }

    /// Keeps each connection's requests in flight until the run ends (``BenchShared``) and
    /// its last reply came, then closes it. - Returns: every connection's statistics.
    func run() -> BenchStatistics {
        let now = NIODeadline.now().uptimeNanoseconds
        for index in connections.indices {
            _ = connections[index].loop.start(at: now, shared: shared, allocator: allocator)
            writeOutput(of: index)
        }
        while open > 0 { serveEvents() }
        var total = BenchStatistics()
        for connection in connections { total.merge(connection.loop.statistics) }
        return total
    }

    // MARK: - Events

    /// What `epoll` reports for a socket that has something to read or has closed.
    private static let readable = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue

    /// Handles what `epoll` reports ready, waiting up to 100 ms for something.
    private func serveEvents() {
        let count = epoll_wait(poll, events.baseAddress, Int32(events.count), 100)
        guard count > 0 else { return }
        for event in events[..<Int(count)] {
            let index = Int(event.data.u64)
            guard connections[index].isOpen else { continue }
            if event.events & EPOLLOUT.rawValue != 0 { writeUnwritten(of: index) }
            if event.events & Self.readable != 0, connections[index].isOpen { read(index) }
        }
    }

    private func read(_ index: Int) {
        let count = Glibc.read(connections[index].descriptor, readBuffer.baseAddress, readBuffer.count)
        if count < 0, errno == EAGAIN || errno == EINTR { return }
        guard count > 0 else { return lose(index) }
        let (measured, _) = connections[index].loop.receive(
            UnsafeRawBufferPointer(rebasing: readBuffer[..<count]),
            shared: shared,
            allocator: allocator
        )
        if measured > 0 { shared.replies.add(measured, ordering: .relaxed) }
        writeOutput(of: index)
        if connections[index].loop.finishIfIdle() {
            shared.senderFinished()
            finish(index)
        }
    }

    // MARK: - Writes

    private func writeOutput(of index: Int) {
        guard let output = connections[index].loop.takeOutput() else { return }
        send(output, on: index)
    }

    /// Writes `buffer`, after whatever is still unwritten.
    private func send(_ buffer: ByteBuffer, on index: Int) {
        if var unwritten = connections[index].unwritten {
            var buffer = buffer
            unwritten.writeBuffer(&buffer)
            connections[index].unwritten = unwritten
            return
        }
        connections[index].unwritten = buffer
        writeUnwritten(of: index)
    }

    private func writeUnwritten(of index: Int) {
        guard var pending = connections[index].unwritten else { return }
        let descriptor = connections[index].descriptor
        while pending.readableBytes > 0 {
            // `MSG_NOSIGNAL`: a connection the server closed fails the write instead of
            // ending the process with `SIGPIPE`.
            let written = pending.withUnsafeReadableBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                return lose(index)
            }
            pending.moveReaderIndex(forwardBy: written)
        }
        let isDone = pending.readableBytes == 0
        connections[index].unwritten = isDone ? nil : pending
        guard connections[index].isWatchingWrites == isDone else { return }
        connections[index].isWatchingWrites = !isDone
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (isDone ? 0 : EPOLLOUT.rawValue)
        event.data.u64 = UInt64(index)
        _ = epoll_ctl(poll, EPOLL_CTL_MOD, descriptor, &event)
    }

    // MARK: - Endings

    private func lose(_ index: Int) {
        _ = connections[index].loop.connectionLost()
        finish(index)
    }

    private func finish(_ index: Int) {
        guard connections[index].isOpen else { return }
        connections[index].isOpen = false
        Glibc.close(connections[index].descriptor)
        open -= 1
    }

    // MARK: - Sockets

    private static func resolve(host: String, port: Int) throws -> (family: Int32, address: [UInt8]) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &results)
        guard code == 0, let first = results else { throw BenchSocketError.resolve(host, String(cString: gai_strerror(code))) }
        defer { freeaddrinfo(results) }
        let bytes = UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen))
        return (first.pointee.ai_family, Array(bytes))
    }

    private static func connect(to address: (family: Int32, address: [UInt8])) throws -> Int32 {
        let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw BenchSocketError.system("socket", errno) }
        let connected = address.address.withUnsafeBytes {
            Glibc.connect(descriptor, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        var one: Int32 = 1
        guard connected == 0,
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0,
            fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) == 0
        else {
            let error = errno
            Glibc.close(descriptor)
            throw BenchSocketError.system("connect", error)
        }
        return descriptor
    }
}

/// Why ``BenchSocketDriver`` could not open its connections.
enum BenchSocketError: Error, CustomStringConvertible {
    case resolve(String, String)
    case system(String, Int32)

    var description: String {
        switch self {
        case .resolve(let host, let reason): "cannot resolve \(host): \(reason)"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}
#endif
