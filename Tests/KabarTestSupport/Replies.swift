// MARK: - Expected replies

/// Expected reply bytes, spelled as PROTOCOL.md spells them.
public enum Expected {
    public static func error(_ message: String) -> String {
        "{\"status\": \"ERROR\", \"message\": \"\(message)\"}\r\n\r\n"
    }

    public static func okMessage(_ message: String) -> String {
        "{\"status\": \"OK\", \"message\": \"\(message)\"}\r\n\r\n"
    }

    public static let messageSent = okMessage("Message Sent")
    public static let pong = okMessage("PONG")
    public static let emptyInbox = "{\"status\": \"OK\", \"messages\": {}}\r\n\r\n"

    /// The token in an `auth` OK reply, or nil if it is not one.
    public static func token(inAuthReply reply: String) -> String? {
        let prefix = "{\"status\": \"OK\", \"tokenid\": \""
        let suffix = "\"}\r\n\r\n"
        guard reply.hasPrefix(prefix), reply.hasSuffix(suffix) else { return nil }
        return String(reply.dropFirst(prefix.count).dropLast(suffix.count))
    }
}
