import KabarProtocol
import NIOCore
import Testing

@Suite("Reply encoder: byte for byte as PROTOCOL.md")
struct ReplyEncoderTests {
    static let token: SessionToken = SessionToken("8cab384c-10cf-417e-befd-b17a1074e5e9")!

    static let goldenReplies: [(Reply, String)] = [
        (.loggedIn(token), #"{"status": "OK", "tokenid": "8cab384c-10cf-417e-befd-b17a1074e5e9"}"#),
        (.messageSent, #"{"status": "OK", "message": "Message Sent"}"#),
        (.inbox([]), #"{"status": "OK", "messages": {}}"#),
        (
            .inbox([
                InboxGroup(
                    sender: "messi",
                    messages: [
                        InboxMessage(fromName: "Lionel Messi", toName: "Jordan Henderson", text: "hello gimana kabarnya son"),
                        InboxMessage(fromName: "Lionel Messi", toName: "Jordan Henderson", text: "woi"),
                    ]
                ),
                InboxGroup(
                    sender: "lineker",
                    messages: [InboxMessage(fromName: "Gary Lineker", toName: "Jordan Henderson", text: "halo")]
                ),
            ]),
            #"{"status": "OK", "messages": {"messi": [{"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello gimana kabarnya son"}, {"msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "woi"}], "lineker": [{"msg_from": "Gary Lineker", "msg_to": "Jordan Henderson", "msg": "halo"}]}}"#
        ),
        (.onlineUsers([]), #"{"status": "OK", "message": []}"#),
        (
            .onlineUsers([
                OnlineUser(username: "messi", name: "Lionel Messi", country: "Argentina"),
                OnlineUser(username: "henderson", name: "Jordan Henderson", country: "Inggris"),
            ]),
            #"{"status": "OK", "message": [{"username": "messi", "name": "Lionel Messi", "negara": "Argentina"}, {"username": "henderson", "name": "Jordan Henderson", "negara": "Inggris"}]}"#
        ),
        (.loggedOut(token), #"{"status": "OK", "message": "8cab384c-10cf-417e-befd-b17a1074e5e9"}"#),
        (.registered, #"{"status": "OK", "message": "User Registered"}"#),
        (.pong, #"{"status": "OK", "message": "PONG"}"#),
        (.refused(.unknownUser), #"{"status": "ERROR", "message": "User Tidak Ada"}"#),
        (.refused(.wrongPassword), #"{"status": "ERROR", "message": "Password Salah"}"#),
        (.refused(.sessionNotFound), #"{"status": "ERROR", "message": "Session Tidak Ditemukan"}"#),
        (.refused(.recipientNotFound), #"{"status": "ERROR", "message": "User Tidak Ditemukan"}"#),
        (.refused(.malformedRequest), #"{"status": "ERROR", "message": "Protocol Tidak Benar"}"#),
        (.refused(.notAuthorized), #"{"status": "ERROR", "message": "not authorized"}"#),
        (.refused(.emptyMessage), #"{"status": "ERROR", "message": "Pesan Kosong"}"#),
        (.refused(.tooManyRecipients), #"{"status": "ERROR", "message": "Terlalu Banyak Penerima"}"#),
        (.refused(.registrationClosed), #"{"status": "ERROR", "message": "Registrasi Ditutup"}"#),
        (.refused(.invalidUsername), #"{"status": "ERROR", "message": "Username Tidak Valid"}"#),
        (.refused(.invalidPassword), #"{"status": "ERROR", "message": "Password Tidak Valid"}"#),
        (.refused(.userExists), #"{"status": "ERROR", "message": "User Sudah Ada"}"#),
        (.refused(.requestTooLong), #"{"status": "ERROR", "message": "Request Terlalu Panjang"}"#),
        (.refused(.invalidEncoding), #"{"status": "ERROR", "message": "Encoding Tidak Valid"}"#),
        (.refused(.tooManyAttempts), #"{"status": "ERROR", "message": "Terlalu Banyak Percobaan"}"#),
        (.refused(.serverFull), #"{"status": "ERROR", "message": "Server Penuh"}"#),
        (.subscribed(unread: 2), #"{"status": "OK", "message": "Subscribed", "unread": 2}"#),
        (.unsubscribed, #"{"status": "OK", "message": "Unsubscribed"}"#),
        (.acked(3), #"{"status": "OK", "acked": 3}"#),
        (.history(with: "henderson", entries: []), #"{"status": "OK", "with": "henderson", "messages": []}"#),
        (
            .history(with: "henderson", entries: [HistoryEntry(message: message, isRead: true), HistoryEntry(message: message, isRead: false)]),
            #"{"status": "OK", "with": "henderson", "messages": [{"id": 42, "from": "messi", "to": "henderson", "msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello", "time": "2026-12-02T03:00:00.123Z", "read": true}, {"id": 42, "from": "messi", "to": "henderson", "msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello", "time": "2026-12-02T03:00:00.123Z", "read": false}]}"#
        ),
        (.conversations([]), #"{"status": "OK", "conversations": []}"#),
        (
            .conversations([ConversationSummary(peer: OnlineUser(username: "henderson", name: "Jordan Henderson", country: "Inggris"), unread: 2, last: message)]),
            #"{"status": "OK", "conversations": [{"username": "henderson", "name": "Jordan Henderson", "negara": "Inggris", "unread": 2, "last": {"id": 42, "from": "messi", "to": "henderson", "msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello", "time": "2026-12-02T03:00:00.123Z"}}]}"#
        ),
    ]

    static let message = ChatMessage(
        id: 42, from: "messi", to: "henderson", fromName: "Lionel Messi", toName: "Jordan Henderson",
        text: "hello", timeMilliseconds: 1_796_180_400_123
    )

    static let goldenEvents: [(LiveEvent, String)] = [
        (.message(message), #"{"status": "OK", "event": "message", "message": {"id": 42, "from": "messi", "to": "henderson", "msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello", "time": "2026-12-02T03:00:00.123Z"}}"#),
        (.sent(message), #"{"status": "OK", "event": "sent", "message": {"id": 42, "from": "messi", "to": "henderson", "msg_from": "Lionel Messi", "msg_to": "Jordan Henderson", "msg": "hello", "time": "2026-12-02T03:00:00.123Z"}}"#),
        (.presence(OnlineUser(username: "messi", name: "Lionel Messi", country: "Argentina"), isOnline: true), #"{"status": "OK", "event": "presence", "username": "messi", "name": "Lionel Messi", "negara": "Argentina", "online": true}"#),
        (.presence(OnlineUser(username: "messi", name: "Lionel Messi", country: "Argentina"), isOnline: false), #"{"status": "OK", "event": "presence", "username": "messi", "name": "Lionel Messi", "negara": "Argentina", "online": false}"#),
    ]

    @Test("golden event frames, spelled as PROTOCOL.md spells them", arguments: goldenEvents)
    func goldenEvent(event: LiveEvent, json: String) {
        var buffer = ByteBuffer()
        ReplyEncoder.write(event, into: &buffer)
        #expect(String(buffer: buffer) == json + "\r\n\r\n")
    }

    @Test("times: UTC, ISO 8601, milliseconds", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(951_782_400_000), "2000-02-29T00:00:00.000Z"),
        (Int64(1_796_180_400_123), "2026-12-02T03:00:00.123Z"),
        (Int64(4_102_444_799_999), "2099-12-31T23:59:59.999Z"),
    ])
    func times(milliseconds: Int64, text: String) {
        #expect(UTCTime.iso8601(milliseconds: milliseconds) == text)
        #expect(UTCTime.milliseconds(iso8601: text) == milliseconds)
    }

    @Test("times that are not of that form are not read", arguments: [
        "", "2026-12-02T03:00:00Z", "2026-12-02 03:00:00.123Z", "2026-13-02T03:00:00.123Z", "2026-12-02T24:00:00.123Z", "2026-12-02T03:00:00.12xZ",
    ])
    func badTimes(text: String) {
        #expect(UTCTime.milliseconds(iso8601: text) == nil)
    }

    @Test("golden replies", arguments: goldenReplies)
    func golden(reply: Reply, json: String) {
        #expect(String(buffer: ReplyEncoder.encode(reply)) == json + "\r\n\r\n")
    }

    @Test("strings are escaped as json.dumps(ensure_ascii=False) does")
    func escaping() {
        let text = "quote \" backslash \\ newline \n cr \r tab \t bell \u{07} nul \u{00} bs \u{08} ff \u{0C} del \u{7F} ünï 😀"
        let reply = Reply.inbox([InboxGroup(sender: "a", messages: [InboxMessage(fromName: "A", toName: "B", text: text)])])
        let expected = #"{"status": "OK", "messages": {"a": [{"msg_from": "A", "msg_to": "B", "msg": "quote \" backslash \\ newline \n cr \r tab \t bell \u0007 nul \u0000 bs \b ff \f del "#
            + "\u{7F} ünï 😀\"}]}}\r\n\r\n"
        #expect(String(buffer: ReplyEncoder.encode(reply)) == expected)
    }

    @Test("every reply decodes back to itself", arguments: goldenReplies)
    func decodes(reply: Reply, json: String) throws {
        let request: Request =
            switch reply {
            case .loggedIn: .auth(username: "a", password: "b")
            case .messageSent: .send(session: .bound, recipients: ["a"], text: "b")
            case .inbox: .inbox(session: .bound)
            case .onlineUsers: .show(session: .bound)
            case .loggedOut: .logout(session: .bound)
            case .registered: .register(username: "a", password: "b", name: "c", country: "d")
            case .pong, .refused: .ping
            case .subscribed: .subscribe(session: .bound, presence: false)
            case .unsubscribed: .unsubscribe(session: .bound)
            case .acked: .ack(session: .bound, ids: "1")
            case .history: .history(session: .bound, with: "henderson", limit: nil, beforeID: nil)
            case .conversations: .conversations(session: .bound)
            }
        let decoded = try ReplyDecoder.decode(json, answering: request)
        if case .refused(let refusal) = reply {
            #expect(decoded == .failure(ReplyDecoder.ServerRefusal(message: refusal.wireText)))
        } else {
            #expect(decoded == .success(reply))
        }
    }
}
