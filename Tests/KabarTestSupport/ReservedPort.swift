import Foundation

// MARK: - ReservedPort

/// A loopback port held by a socket that is bound and does not listen: a connection to it
/// is refused, and no other socket (another test's server, say) can take the port while
/// this one holds it. Released when it is deinitialised.
public final class ReservedPort: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ReservedPortError.noSocket(errno: errno) }
        var address = LoopbackAddress()
        let bound = address.withSocketAddress { pointer, length in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
        guard bound else {
            let error = errno
            close(descriptor)
            throw ReservedPortError.notBound(errno: error)
        }
        self.descriptor = descriptor
        self.port = address.port
    }

    deinit {
        close(descriptor)
    }
}

public enum ReservedPortError: Error {
    case noSocket(errno: Int32)
    case notBound(errno: Int32)
}
