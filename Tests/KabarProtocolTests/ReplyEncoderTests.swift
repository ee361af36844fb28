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
    ]

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
            }
        let decoded = try ReplyDecoder.decode(json, answering: request)
        if case .refused(let refusal) = reply {
            #expect(decoded == .failure(ReplyDecoder.ServerRefusal(message: refusal.wireText)))
        } else {
            #expect(decoded == .success(reply))
        }
    }
}
