import Crypto
import _CryptoExtras

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - ScryptPasswordHasher

/// Hashes and checks passwords with scrypt, off the event loops.
///
/// Encoded form, with the parameters and salt kept beside the hash so that they can be
/// raised later without breaking old accounts:
///
///     $scrypt$ln=14,r=8,p=1$<salt, base64>$<derived key, base64>
///
/// scrypt at the default cost takes tens of milliseconds of CPU and 16 MiB of memory, so
/// every call runs on a ``BlockingWorkPool``, never on an event loop or the cooperative pool.
public struct ScryptPasswordHasher: Sendable {
    /// scrypt cost parameters.
    public struct Parameters: Hashable, Sendable {
        /// log2 of N, the CPU/memory cost.
        public var logRounds: Int
        public var blockSize: Int
        public var parallelism: Int

        public init(logRounds: Int, blockSize: Int, parallelism: Int) {
            self.logRounds = logRounds
            self.blockSize = blockSize
            self.parallelism = parallelism
        }

        /// N = 2^14, r = 8, p = 1: the interactive-login cost recommended by scrypt's author.
        public static let standard = Parameters(logRounds: 14, blockSize: 8, parallelism: 1)
    }

    public let parameters: Parameters
    private let pool: BlockingWorkPool
    private static let saltByteCount = 16
    private static let keyByteCount = 32

    /// - Parameters:
    ///   - parameters: the cost for new hashes; existing hashes keep their own.
    ///   - pool: where hashing runs; by default, a pool of its own with one thread per core.
    public init(parameters: Parameters = .standard, pool: BlockingWorkPool? = nil) {
        self.parameters = parameters
        self.pool = pool ?? BlockingWorkPool(threadCount: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Hashes `password` with a fresh random salt.
    public func hash(_ password: String) async throws -> String {
        let parameters = self.parameters
        return try await pool.run {
            var generator = SystemRandomNumberGenerator()
            let salt = (0..<Self.saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let key = try Self.derive(password, salt: salt, parameters: parameters)
            return "$scrypt$ln=\(parameters.logRounds),r=\(parameters.blockSize),p=\(parameters.parallelism)$"
                + "\(Data(salt).base64EncodedString())$\(Data(key).base64EncodedString())"
        }
    }

    /// Whether `password` matches `encoded`, compared in constant time.
    /// An encoded hash that cannot be read never matches.
    public func verify(_ password: String, against encoded: String) async throws -> Bool {
        guard let stored = Self.decode(encoded) else { return false }
        return try await pool.run {
            let key = try Self.derive(password, salt: stored.salt, parameters: stored.parameters)
            return Self.constantTimeEqual(key, stored.key)
        }
    }

    // MARK: - Encoding

    private static func decode(_ encoded: String) -> (parameters: Parameters, salt: [UInt8], key: [UInt8])? {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == "scrypt" else { return nil }
        var values: [Substring: Int] = [:]
        for pair in fields[2].split(separator: ",") {
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let value = Int(parts[1]) else { return nil }
            values[parts[0]] = value
        }
        guard let logRounds = values["ln"], (1...24).contains(logRounds),
            let blockSize = values["r"], (1...64).contains(blockSize),
            let parallelism = values["p"], (1...16).contains(parallelism),
            let salt = Data(base64Encoded: String(fields[3])), let key = Data(base64Encoded: String(fields[4])),
            key.count == keyByteCount
        else { return nil }
        return (Parameters(logRounds: logRounds, blockSize: blockSize, parallelism: parallelism), Array(salt), Array(key))
    }

    private static func derive(_ password: String, salt: [UInt8], parameters: Parameters) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            outputByteCount: keyByteCount,
            rounds: 1 << parameters.logRounds,
            blockSize: parameters.blockSize,
            parallelism: parameters.parallelism
        )
        return key.withUnsafeBytes { Array($0) }
    }

    private static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
