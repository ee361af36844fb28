import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - BlockingSocket

/// A bare POSIX socket for clients that misbehave on purpose (never read, trickle),
/// with no client-side buffering that would hide what the server does.
///
/// Its waits block a thread for seconds (the never-reading client's, most of a minute),
/// so they run on a thread of their own rather than take one of the cooperative pool's
/// threads (two on a two-core machine) from every other test for that long.
///
/// `@unchecked Sendable`: its only stored property, the descriptor, never changes; the
/// kernel orders the calls made on it from different threads.
public final class BlockingSocket: @unchecked Sendable {
    private let descriptor: Int32

    /// Connects to `port` on 127.0.0.1.
    public init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = LoopbackAddress(port: UInt16(port))
        let result = address.withSocketAddress { pointer, length in Glibc.connect(descriptor, pointer, length) }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(descriptor)
    }

    /// Writes all of `bytes`, waiting for the socket to take them.
    /// - Returns: false if the socket took nothing for `timeout` (the peer stopped reading).
    public func sendSome(_ bytes: [UInt8], waitingUpTo timeout: Duration) async -> Bool {
        await onOwnThread { self.sendBlocking(bytes, waitingUpTo: timeout) }
    }

    /// Waits until the peer closes or resets the connection, without reading anything.
    public func waitForClose(upTo timeout: Duration) async -> Bool {
        await onOwnThread { self.waitForCloseBlocking(upTo: timeout) }
    }

    private func sendBlocking(_ bytes: [UInt8], waitingUpTo timeout: Duration) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EWOULDBLOCK, wait(for: Int16(POLLOUT), timeout) else {
                return false
            }
        }
        return true
    }

    private func waitForCloseBlocking(upTo timeout: Duration) -> Bool {
        let peerClosedWriting: Int16 = 0x2000  // POLLRDHUP (Linux)
        let closedEvents = peerClosedWriting | Int16(POLLHUP) | Int16(POLLERR)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if poll(for: closedEvents, milliseconds: 100) & closedEvents != 0 { return true }
        }
        return false
    }

    private func wait(for events: Int16, _ timeout: Duration) -> Bool {
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return poll(for: events, milliseconds: milliseconds) & events != 0
    }

    /// Polls the socket once: the events that happened (`revents`), 0 if none did in time.
    /// The `pollfd` is its three fields in order, not built by their names (see
    /// ``LoopbackAddress`` for why).
    private func poll(for events: Int16, milliseconds: Int32) -> Int16 {
        var entry: (descriptor: Int32, events: Int16, happened: Int16) = (descriptor, events, 0)
        let ready = withUnsafeMutableBytes(of: &entry) { raw in
            Glibc.poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 1, milliseconds)
        }
        return ready > 0 ? entry.happened : 0
    }
}

/// Runs blocking `work` on a new thread and waits for it without holding a pool thread.
private func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// The resident set size of a process, from `/proc/PID/status`.
public func residentSetBytes(ofProcess pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { return 0 }
    return kilobytes * 1024
}
