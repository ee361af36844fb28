import Foundation

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

    /// Where each of `texts` appears as a message (`"msg": TEXT`) in an inbox reply, in the
    /// order given: nil for a text that is missing. Sorted positions mean the inbox kept
    /// the order.
    public static func positions(ofMessages texts: [String], inInbox reply: String) -> [String.Index?] {
        texts.map { reply.range(of: "\"msg\": \"\($0)\"")?.lowerBound }
    }

    /// The token in an `auth` OK reply, or nil if it is not one.
    public static func token(inAuthReply reply: String) -> String? {
        let prefix = "{\"status\": \"OK\", \"tokenid\": \""
        let suffix = "\"}\r\n\r\n"
        guard reply.hasPrefix(prefix), reply.hasSuffix(suffix) else { return nil }
        return String(reply.dropFirst(prefix.count).dropLast(suffix.count))
    }
}
