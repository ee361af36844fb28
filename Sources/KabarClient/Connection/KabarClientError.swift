// MARK: - KabarClientError

/// The client failed: the server's answer never arrived or made no sense.
///
/// A refusal by the server is not this error: see ``ReplyDecoder/ServerRefusal``.
public struct KabarClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The connection closed before the reply arrived.
        public static let connectionClosed = Code("connection closed")
        /// The server's reply was not a valid reply to the request.
        public static let malformedReply = Code("malformed reply")
        /// No reply within the allowed time.
        public static let timeout = Code("timed out")

        public var description: String { name }
    }

    public var code: Code

    public init(code: Code) {
        self.code = code
    }

    public var description: String { "KabarClientError(\(code))" }
}
