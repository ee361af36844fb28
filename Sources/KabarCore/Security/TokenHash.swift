import Crypto
import KabarProtocol

// MARK: - TokenHash

/// SHA-256 of a session token: the only form in which a token is stored.
///
/// A token carries 122 random bits, so a fast hash is enough: nobody can search that
/// space, and a copy of the database does not let anyone act as a user.
public struct TokenHash: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(_ token: SessionToken) {
        self.bytes = Array(SHA256.hash(data: Array(token.text.utf8)))
    }

    /// A hash read back from storage; nil unless it is 32 bytes long.
    public init?(bytes: [UInt8]) {
        guard bytes.count == SHA256.byteCount else { return nil }
        self.bytes = bytes
    }
}
