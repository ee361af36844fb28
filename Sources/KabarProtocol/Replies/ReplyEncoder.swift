import NIOCore

// MARK: - ReplyEncoder

/// Writes replies exactly as the original server's `json.dumps` did, then `\r\n\r\n`.
///
/// PROTOCOL.md, "Framing": the separators are Python's defaults (`", "` between items,
/// `": "` after keys), keys come in the documented order with `"status"` first,
/// non-ASCII text goes out as UTF-8 and control characters are escaped:
///
///     {"status": "OK", "tokenid": "8cab384c-10cf-417e-befd-b17a1074e5e9"}\r\n\r\n
///
/// It writes straight into a `ByteBuffer`, with no intermediate JSON tree.
public enum ReplyEncoder {
    /// Appends `reply` and its terminator to `buffer`.
    public static func write(_ reply: Reply, into buffer: inout ByteBuffer) {
        switch reply {
        case .messageSent: buffer.writeBytes(encodedMessageSent)
        case .pong: buffer.writeBytes(encodedPong)
        default: encode(reply, into: &buffer)
        }
    }

    /// The replies that are the same every time and come many times a second, encoded once.
    private static let encodedMessageSent = encodedOnce(.messageSent)
    private static let encodedPong = encodedOnce(.pong)

    private static func encodedOnce(_ reply: Reply) -> [UInt8] {
        var buffer = ByteBuffer()
        encode(reply, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    private static func encode(_ reply: Reply, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"status\": ")
        switch reply {
        case .loggedIn(let token):
            writeOK(key: WireText.tokenID, into: &buffer)
            JSONStringWriter.write(token.text, into: &buffer)
        case .messageSent:
            writeOKMessage(WireText.messageSent, into: &buffer)
        case .inbox(let groups):
            writeOK(key: WireText.messages, into: &buffer)
            writeInbox(groups, into: &buffer)
        case .onlineUsers(let users):
            writeOK(key: WireText.message, into: &buffer)
            writeOnlineUsers(users, into: &buffer)
        case .loggedOut(let token):
            writeOKMessage(token.text, into: &buffer)
        case .registered:
            writeOKMessage(WireText.userRegistered, into: &buffer)
        case .pong:
            writeOKMessage(WireText.pong, into: &buffer)
        case .refused(let refusal):
            JSONStringWriter.write(WireText.error, into: &buffer)
            buffer.writeStaticString(", ")
            writeKey(WireText.message, into: &buffer)
            JSONStringWriter.write(refusal.wireText, into: &buffer)
        case .subscribed(let unread):
            writeOKMessage(WireText.subscribed, into: &buffer)
            buffer.writeStaticString(", ")
            writeKey(WireText.unread, into: &buffer)
            buffer.writeString(String(unread))
        case .unsubscribed:
            writeOKMessage(WireText.unsubscribed, into: &buffer)
        case .acked(let count):
            writeOK(key: WireText.acked, into: &buffer)
            buffer.writeString(String(count))
        case .history(let peer, let entries):
            writeOK(key: WireText.with, into: &buffer)
            JSONStringWriter.write(peer, into: &buffer)
            buffer.writeStaticString(", ")
            writeKey(WireText.messages, into: &buffer)
            buffer.writeStaticString("[")
            for (index, entry) in entries.enumerated() {
                if index > 0 { buffer.writeStaticString(", ") }
                write(entry.message, into: &buffer, read: entry.isRead)
            }
            buffer.writeStaticString("]")
        case .conversations(let summaries):
            writeOK(key: WireText.conversations, into: &buffer)
            buffer.writeStaticString("[")
            for (index, summary) in summaries.enumerated() {
                if index > 0 { buffer.writeStaticString(", ") }
                buffer.writeStaticString("{")
                writeUserFields(summary.peer, into: &buffer)
                buffer.writeStaticString(", ")
                writeKey(WireText.unread, into: &buffer)
                buffer.writeString(String(summary.unread))
                buffer.writeStaticString(", ")
                writeKey(WireText.last, into: &buffer)
                write(summary.last, into: &buffer)
                buffer.writeStaticString("}")
            }
            buffer.writeStaticString("]")
        }
        buffer.writeStaticString("}")
        buffer.writeString(WireText.replyTerminator)
    }

    /// The encoded reply as a new buffer.
    public static func encode(_ reply: Reply, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        write(reply, into: &buffer)
        return buffer
    }

    /// Writes the `messages` object of an inbox reply: `{"messi": [{"msg_from": …}]}`,
    /// or `{}`. The client prints exactly this, as the original client's
    /// `json.dumps(result['messages'])` did.
    public static func writeInbox(_ groups: [InboxGroup], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{")
        for (groupIndex, group) in groups.enumerated() {
            if groupIndex > 0 { buffer.writeStaticString(", ") }
            writeKey(group.sender, into: &buffer)
            buffer.writeStaticString("[")
            for (messageIndex, message) in group.messages.enumerated() {
                if messageIndex > 0 { buffer.writeStaticString(", ") }
                buffer.writeStaticString("{")
                writeKey(WireText.messageFrom, into: &buffer)
                JSONStringWriter.write(message.fromName, into: &buffer)
                buffer.writeStaticString(", ")
                writeKey(WireText.messageTo, into: &buffer)
                JSONStringWriter.write(message.toName, into: &buffer)
                buffer.writeStaticString(", ")
                writeKey(WireText.messageText, into: &buffer)
                JSONStringWriter.write(message.text, into: &buffer)
                buffer.writeStaticString("}")
            }
            buffer.writeStaticString("]")
        }
        buffer.writeStaticString("}")
    }

    // MARK: - Events

    /// Appends one event frame and its terminator to `buffer`.
    public static func write(_ event: LiveEvent, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"status\": ")
        JSONStringWriter.write(WireText.ok, into: &buffer)
        buffer.writeStaticString(", ")
        writeKey(WireText.event, into: &buffer)
        switch event {
        case .message(let message):
            buffer.writeStaticString("\"message\", \"message\": ")
            write(message, into: &buffer)
        case .sent(let message):
            buffer.writeStaticString("\"sent\", \"message\": ")
            write(message, into: &buffer)
        case .presence(let user, let isOnline):
            buffer.writeStaticString("\"presence\", ")
            writeUserFields(user, into: &buffer)
            buffer.writeStaticString(", ")
            writeKey(WireText.online, into: &buffer)
            buffer.writeString(isOnline ? "true" : "false")
        }
        buffer.writeStaticString("}")
        buffer.writeString(WireText.replyTerminator)
    }

    /// Writes a message object, keys in PROTOCOL.md's order; `history` adds `"read"` last.
    public static func write(_ message: ChatMessage, into buffer: inout ByteBuffer, read: Bool? = nil) {
        buffer.writeStaticString("{\"id\": ")
        buffer.writeString(String(message.id))
        buffer.writeStaticString(", \"from\": ")
        JSONStringWriter.write(message.from, into: &buffer)
        buffer.writeStaticString(", \"to\": ")
        JSONStringWriter.write(message.to, into: &buffer)
        buffer.writeStaticString(", \"msg_from\": ")
        JSONStringWriter.write(message.fromName, into: &buffer)
        buffer.writeStaticString(", \"msg_to\": ")
        JSONStringWriter.write(message.toName, into: &buffer)
        buffer.writeStaticString(", \"msg\": ")
        JSONStringWriter.write(message.text, into: &buffer)
        buffer.writeStaticString(", \"time\": \"")
        UTCTime.withBytes(milliseconds: message.timeMilliseconds) { _ = buffer.writeBytes($0) }
        buffer.writeStaticString("\"")
        if let read {
            buffer.writeStaticString(", ")
            writeKey(WireText.read, into: &buffer)
            buffer.writeString(read ? "true" : "false")
        }
        buffer.writeStaticString("}")
    }

    /// `"username": U, "name": N, "negara": C`, as `show` writes a user.
    private static func writeUserFields(_ user: OnlineUser, into buffer: inout ByteBuffer) {
        writeKey(WireText.username, into: &buffer)
        JSONStringWriter.write(user.username, into: &buffer)
        buffer.writeStaticString(", ")
        writeKey(WireText.name, into: &buffer)
        JSONStringWriter.write(user.name, into: &buffer)
        buffer.writeStaticString(", ")
        writeKey(WireText.country, into: &buffer)
        JSONStringWriter.write(user.country, into: &buffer)
    }

    // MARK: - Pieces

    private static func writeOnlineUsers(_ users: [OnlineUser], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("[")
        for (index, user) in users.enumerated() {
            if index > 0 { buffer.writeStaticString(", ") }
            buffer.writeStaticString("{")
            writeUserFields(user, into: &buffer)
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]")
    }

    /// Writes `"OK", "KEY": ` after the opening `{"status": `.
    private static func writeOK(key: String, into buffer: inout ByteBuffer) {
        JSONStringWriter.write(WireText.ok, into: &buffer)
        buffer.writeStaticString(", ")
        writeKey(key, into: &buffer)
    }

    private static func writeOKMessage(_ text: String, into buffer: inout ByteBuffer) {
        writeOK(key: WireText.message, into: &buffer)
        JSONStringWriter.write(text, into: &buffer)
    }

    private static func writeKey(_ key: String, into buffer: inout ByteBuffer) {
        JSONStringWriter.write(key, into: &buffer)
        buffer.writeStaticString(": ")
    }
}
