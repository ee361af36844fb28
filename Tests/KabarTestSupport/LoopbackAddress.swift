import Foundation

// MARK: - LoopbackAddress

/// An IPv4 `sockaddr_in` for 127.0.0.1, as the 16 bytes the socket calls take.
///
/// Built byte by byte rather than through the struct's fields: on Linux the struct is
/// declared both by Glibc and by NIO's C shims, and with the MemberImportVisibility
/// feature which of the two "defines" its fields depends on the order the compiler loaded
/// them, so a file that names `sin_port` compiled in one build and not in a fresh one.
struct LoopbackAddress {
    /// Family, port (network order), address (network order), eight bytes of padding.
    private(set) var bytes: [UInt8]

    init(port: UInt16 = 0) {
        let family = UInt16(AF_INET)
        bytes = [UInt8(family & 0xFF), UInt8(family >> 8), UInt8(port >> 8), UInt8(port & 0xFF), 127, 0, 0, 1]
            + [UInt8](repeating: 0, count: 8)
    }

    /// The port, as `getsockname` wrote it back.
    var port: Int { Int(bytes[2]) << 8 | Int(bytes[3]) }

    /// Calls `body` with the address as a `sockaddr` and its length, which `body` may
    /// change (as `getsockname` does).
    mutating func withSocketAddress<T>(_ body: (UnsafeMutablePointer<sockaddr>, inout socklen_t) -> T) -> T {
        var length = socklen_t(bytes.count)
        return bytes.withUnsafeMutableBytes { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
    }
}
