// What a request costs Swift on a server without SwiftNIO: scripts/nio-floor's probe, with
// `epoll` instead of SwiftNIO's event loops, to weigh what a front end of Kabar's own would
// buy. Not a chat server, and not part of Kabar. Linux only.
//
//     swift build -c release --package-path scripts/epoll-floor
//     scripts/epoll-floor/.build/release/epoll-floor PORT [THREADS] [redis|kabar]
//
// Each of THREADS threads (default: one per core, as nio-floor's event loops) listens on PORT
// with SO_REUSEPORT, so the kernel spreads the connections over them, and waits with its own
// `epoll` (level-triggered, as SwiftNIO's). A readable connection gets one `read`, and its
// lines are answered at once with one `send`, as nio-floor's handler answers each read:
// Redis's `+PONG`, or with `kabar` Kabar's `ping` reply (drive it with chatload as
// nio-floor's comment says). What `send` does not take waits for the socket to be writable.
import CEpollFloor
import Foundation
import Glibc

/// One thread's listener, `epoll` and connections.
struct FloorThread {
    private static let listenerTag = UInt64.max
    private static let newline = UInt8(ascii: "\n")

    private let reply: [UInt8]
    private let poll: Int32
    private let listener: Int32
    /// Replies `send` did not take yet, by descriptor.
    private var unwritten: [Int32: [UInt8]] = [:]
    private var input = [UInt8](repeating: 0, count: 64 * 1024)
    private var output: [UInt8] = []

    init(port: UInt16, reply: [UInt8]) {
        self.reply = reply
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 1024) == 0 else { fatalError("listening on \(port): errno \(errno)") }
        self.listener = listener
        poll = epoll_create1(Int32(EPOLL_CLOEXEC))
        watch(listener, tag: Self.listenerTag, events: EPOLLIN.rawValue)
    }

    mutating func run() -> Never {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            let ready = epoll_wait(poll, &events, Int32(events.count), -1)
            guard ready > 0 else { continue }
            for event in events[0..<Int(ready)] {
                if event.data.u64 == Self.listenerTag {
                    acceptAll()
                } else {
                    let descriptor = Int32(truncatingIfNeeded: event.data.u64)
                    if event.events & EPOLLOUT.rawValue != 0 { sendUnwritten(descriptor) }
                    if event.events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                        readAndAnswer(descriptor)
                    }
                }
            }
        }
    }

    private func watch(_ descriptor: Int32, tag: UInt64, events: UInt32, change: Int32 = EPOLL_CTL_ADD) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = tag
        epoll_ctl(poll, change, descriptor, &event)
    }

    private func acceptAll() {
        while true {
            let descriptor = epoll_floor_accept(listener)
            guard descriptor >= 0 else { return }
            var one: Int32 = 1
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            watch(descriptor, tag: UInt64(descriptor), events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
        }
    }

    private mutating func readAndAnswer(_ descriptor: Int32) {
        let count = input.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard count > 0 else { return close(descriptor) }
        var lines = 0
        for byte in input[0..<count] where byte == Self.newline { lines += 1 }
        guard lines > 0 else { return }
        output.removeAll(keepingCapacity: true)
        for _ in 0..<lines { output.append(contentsOf: reply) }
        if unwritten[descriptor] != nil {
            unwritten[descriptor]!.append(contentsOf: output)
            return
        }
        let sent = output.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent == output.count { return }
        if sent < 0 && errno != EAGAIN { return close(descriptor) }
        unwritten[descriptor] = Array(output[max(sent, 0)...])
        watch(descriptor, tag: UInt64(descriptor), events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLOUT.rawValue, change: EPOLL_CTL_MOD)
    }

    private mutating func sendUnwritten(_ descriptor: Int32) {
        guard let bytes = unwritten[descriptor] else { return }
        let sent = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent < 0 {
            if errno != EAGAIN { close(descriptor) }
            return
        }
        if sent < bytes.count {
            unwritten[descriptor] = Array(bytes[sent...])
            return
        }
        unwritten[descriptor] = nil
        watch(descriptor, tag: UInt64(descriptor), events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, change: EPOLL_CTL_MOD)
    }

    private mutating func close(_ descriptor: Int32) {
        unwritten[descriptor] = nil
        Glibc.close(descriptor)  // also leaves the epoll set
    }
}

let arguments = CommandLine.arguments.dropFirst()
guard let port = arguments.first.flatMap({ UInt16($0) }) else {
    print("usage: epoll-floor PORT [THREADS] [redis|kabar]")
    exit(2)
}
let threads = arguments.dropFirst().first.flatMap { Int($0) } ?? ProcessInfo.processInfo.activeProcessorCount
let reply = Array((arguments.dropFirst(2).first == "kabar" ? "{\"status\": \"OK\", \"message\": \"PONG\"}\r\n\r\n" : "+PONG\r\n").utf8)
for _ in 1..<max(threads, 1) {
    Thread { var floor = FloorThread(port: port, reply: reply); floor.run() }.start()
}
var floor = FloorThread(port: port, reply: reply)
floor.run()
