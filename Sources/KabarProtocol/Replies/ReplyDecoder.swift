// MARK: - ReplyDecoder

/// Reads a reply (without its `\r\n\r\n`) as a client sees it.
///
/// Several OK replies share one shape (`{"status": "OK", "message": TEXT}`), so the
/// decoder needs the request that the reply answers.
public enum ReplyDecoder {
    /// A reply that is not what the protocol says it should be.
    public struct MalformedReply: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { "malformed reply: \(reason)" }
    }

    /// The server's `ERROR` reply: its text, and the ``Refusal`` it names if Kabar knows it.
    public struct ServerRefusal: Error, Hashable, Sendable {
        public var message: String
        public var refusal: Refusal? { Refusal(wireText: message) }

        public init(message: String) {
            self.message = message
        }
    }

    /// Decodes `text` as the reply to `request`.
    ///
    /// - Returns: the reply, or the server's refusal.
    /// - Throws: ``MalformedReply`` when the text is not a reply to that request.
    public static func decode(_ text: String, answering request: Request) throws(MalformedReply)
        -> Result<Reply, ServerRefusal>
    {
        let json = try parsed(text)
        switch json[WireText.status]?.stringValue {
        case WireText.error?:
            guard let message = json[WireText.message]?.stringValue else {
                throw MalformedReply(reason: "ERROR without a message")
            }
            return .failure(ServerRefusal(message: message))
        case WireText.ok?:
            return .success(try decodeOK(json, answering: request))
        default:
            throw MalformedReply(reason: "no status")
        }
    }

    private static func decodeOK(_ json: JSONValue, answering request: Request) throws(MalformedReply) -> Reply {
        switch request {
        case .auth:
            guard let token = json[WireText.tokenID]?.stringValue.flatMap(SessionToken.init) else {
                throw MalformedReply(reason: "auth reply without a token")
            }
            return .loggedIn(token)
        case .send:
            return .messageSent
        case .inbox:
            guard case .object(let members)? = json[WireText.messages] else {
                throw MalformedReply(reason: "inbox reply without messages")
            }
            return .inbox(try members.map { member throws(MalformedReply) in
                try inboxGroup(sender: member.key, member.value)
            })
        case .show:
            guard case .array(let rows)? = json[WireText.message] else {
                throw MalformedReply(reason: "show reply without a list")
            }
            return .onlineUsers(try rows.map { row throws(MalformedReply) in try onlineUser(row) })
        case .logout:
            guard let token = json[WireText.message]?.stringValue.flatMap(SessionToken.init) else {
                throw MalformedReply(reason: "logout reply without a token")
            }
            return .loggedOut(token)
        case .register:
            return .registered
        case .ping:
            return .pong
        case .subscribe:
            guard let unread = json[WireText.unread]?.integerValue else {
                throw MalformedReply(reason: "subscribe reply without an unread count")
            }
            return .subscribed(unread: unread)
        case .unsubscribe:
            return .unsubscribed
        case .ack:
            guard let acked = json[WireText.acked]?.integerValue else {
                throw MalformedReply(reason: "ack reply without a count")
            }
            return .acked(acked)
        case .history:
            guard let peer = json[WireText.with]?.stringValue, case .array(let items)? = json[WireText.messages] else {
                throw MalformedReply(reason: "history reply without its messages")
            }
            return .history(with: peer, entries: try items.map { item throws(MalformedReply) in
                guard case .bool(let isRead)? = item[WireText.read] else { throw MalformedReply(reason: "history message without read") }
                return HistoryEntry(message: try chatMessage(item), isRead: isRead)
            })
        case .conversations:
            guard case .array(let items)? = json[WireText.conversations] else {
                throw MalformedReply(reason: "conversations reply without a list")
            }
            return .conversations(try items.map { item throws(MalformedReply) in
                guard let unread = item[WireText.unread]?.integerValue, let last = item[WireText.last] else {
                    throw MalformedReply(reason: "conversation lacks a field")
                }
                return ConversationSummary(peer: try onlineUser(item), unread: unread, last: try chatMessage(last))
            })
        }
    }

    private static func parsed(_ text: String) throws(MalformedReply) -> JSONValue {
        do {
            return try JSONParser.parse(text)
        } catch {
            throw MalformedReply(reason: "not JSON (at byte \(error.offset))")
        }
    }

    /// Whether a frame is an event of a subscription rather than a reply (its second key
    /// is `"event"`, as Kabar writes every event).
    public static func isEvent(_ text: String) -> Bool {
        text.hasPrefix(#"{"status": "OK", "event": "#)
    }

    /// The event an event frame holds.
    /// - Throws: ``MalformedReply`` for a frame that is not an event Kabar writes.
    public static func decodeEvent(_ text: String) throws(MalformedReply) -> LiveEvent {
        let json = try parsed(text)
        switch json[WireText.event]?.stringValue {
        case "message"?:
            guard let message = json[WireText.message] else { throw MalformedReply(reason: "message event without a message") }
            return .message(try chatMessage(message))
        case "sent"?:
            guard let message = json[WireText.message] else { throw MalformedReply(reason: "sent event without a message") }
            return .sent(try chatMessage(message))
        case "presence"?:
            guard case .bool(let isOnline)? = json[WireText.online] else { throw MalformedReply(reason: "presence event without online") }
            return .presence(try onlineUser(json), isOnline: isOnline)
        default:
            throw MalformedReply(reason: "unknown event")
        }
    }

    /// A message object (PROTOCOL.md, "Live delivery"), as in events, `history` and
    /// `conversations`.
    public static func chatMessage(_ value: JSONValue) throws(MalformedReply) -> ChatMessage {
        guard let id = value[WireText.id]?.integerValue,
            let from = value[WireText.from]?.stringValue,
            let to = value[WireText.to]?.stringValue,
            let fromName = value[WireText.messageFrom]?.stringValue,
            let toName = value[WireText.messageTo]?.stringValue,
            let text = value[WireText.messageText]?.stringValue,
            let time = value[WireText.time]?.stringValue.flatMap(UTCTime.milliseconds(iso8601:))
        else { throw MalformedReply(reason: "message object lacks a field") }
        return ChatMessage(id: Int64(id), from: from, to: to, fromName: fromName, toName: toName, text: text, timeMilliseconds: time)
    }

    private static func inboxGroup(sender: String, _ value: JSONValue) throws(MalformedReply) -> InboxGroup {
        guard case .array(let items) = value else { throw MalformedReply(reason: "inbox group is not a list") }
        var messages: [InboxMessage] = []
        for item in items {
            guard let from = item[WireText.messageFrom]?.stringValue,
                let to = item[WireText.messageTo]?.stringValue,
                let text = item[WireText.messageText]?.stringValue
            else { throw MalformedReply(reason: "inbox message lacks a field") }
            messages.append(InboxMessage(fromName: from, toName: to, text: text))
        }
        return InboxGroup(sender: sender, messages: messages)
    }

    private static func onlineUser(_ row: JSONValue) throws(MalformedReply) -> OnlineUser {
        guard let username = row[WireText.username]?.stringValue,
            let name = row[WireText.name]?.stringValue,
            let country = row[WireText.country]?.stringValue
        else { throw MalformedReply(reason: "show row lacks a field") }
        return OnlineUser(username: username, name: name, country: country)
    }
}
