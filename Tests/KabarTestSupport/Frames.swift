import KabarProtocol

// MARK: - Frames

/// A reply or event frame as read from the socket.
public struct Frame: Sendable {
    public var raw: String
    public var json: JSONValue

    public var event: String? { json["event"]?.stringValue }
    public var id: Int64 { json["message"]?["id"]?.integerValue.map(Int64.init) ?? -1 }
    public var text: String? { json["message"]?["msg"]?.stringValue }
}

extension JSONValue {
    /// The `messages` list of a `history` reply.
    public var messages: [JSONValue] {
        if case .array(let items)? = self["messages"] { return items }
        return []
    }
}

extension RawClient {
    /// Sends `line` and parses its reply.
    public func readJSON(_ line: String) async throws -> JSONValue {
        try JSONParser.parse(Expected.withoutTerminator(try await request(line)))
    }

    public func readFrame(timeout: Duration = .seconds(10 * testTimeScale)) async throws -> Frame {
        let text = try await readReply(timeout: timeout)
        // ("\r\n" is one Character: drop the terminator's bytes, not four characters.)
        let raw = String(decoding: text.utf8.dropLast(4), as: UTF8.self)
        return Frame(raw: raw, json: try JSONParser.parse(raw))
    }

    public func readFrames(_ count: Int, timeout: Duration = .seconds(10 * testTimeScale)) async throws -> [Frame] {
        var frames: [Frame] = []
        for _ in 0..<count { frames.append(try await readFrame(timeout: timeout)) }
        return frames
    }
}

extension Expected {
    public static func subscribed(unread: Int) -> String { subscribedJSON(unread: unread) + "\r\n\r\n" }
    public static func subscribedJSON(unread: Int) -> String { #"{"status": "OK", "message": "Subscribed", "unread": \#(unread)}"# }
    public static func acked(_ count: Int) -> String { #"{"status": "OK", "acked": \#(count)}"# + "\r\n\r\n" }
    public static let messageSentJSON = withoutTerminator(messageSent)
    public static let pongJSON = withoutTerminator(pong)

    public static func unread(inSubscribeReply reply: String) -> Int? {
        (try? JSONParser.parse(withoutTerminator(reply)))?["unread"]?.integerValue
    }

    public static func withoutTerminator(_ reply: String) -> String {
        String(decoding: reply.utf8.dropLast(4), as: UTF8.self)
    }
}
