import KabarProtocol
import NIOCore
import Testing

@Suite("Request parser")
struct RequestParserTests {
    static let token: String = "8cab384c-10cf-417e-befd-b17a1074e5e9"
    static let sessionToken = SessionToken(token)!

    static let acceptedLines: [(String, Request)] = [
        ("auth messi surabaya", .auth(username: "messi", password: "surabaya")),
        ("AUTH Messi surabaya", .auth(username: "messi", password: "surabaya")),
        ("  auth\tmessi   surabaya  ", .auth(username: "messi", password: "surabaya")),
        ("auth messi surabaya extra words", .auth(username: "messi", password: "surabaya")),
        ("auth messi SuraBaya", .auth(username: "messi", password: "SuraBaya")),
        (
            "send \(token) henderson hello gimana kabarnya son",
            .send(session: .token(sessionToken), recipients: ["henderson"], text: "hello gimana kabarnya son")
        ),
        (
            "send \(token) henderson  hello gimana kabarnya son \r",
            .send(session: .token(sessionToken), recipients: ["henderson"], text: "hello gimana kabarnya son \r")
        ),
        (
            "send henderson hello   gimana\tkabarnya  ",
            .send(session: .bound, recipients: ["henderson"], text: "hello   gimana\tkabarnya")
        ),
        ("Send Henderson hi", .send(session: .bound, recipients: ["henderson"], text: "hi")),
        ("send henderson", .send(session: .bound, recipients: ["henderson"], text: "")),
        (
            "send henderson,Lineker,,x halo semua",
            .send(session: .bound, recipients: ["henderson", "lineker", "", "x"], text: "halo semua")
        ),
        ("send ,Henderson, hi", .send(session: .bound, recipients: ["", "henderson", ""], text: "hi")),
        ("send , hi", .send(session: .bound, recipients: ["", ""], text: "hi")),
        (
            "send \(token.uppercased()) lineker hi",
            .send(session: .token(sessionToken), recipients: ["lineker"], text: "hi")
        ),
        ("inbox", .inbox(session: .bound)),
        ("inbox \(token)", .inbox(session: .token(sessionToken))),
        ("inbox not-a-token", .inbox(session: .malformedToken("not-a-token"))),
        ("show \(token) extra", .show(session: .token(sessionToken))),
        ("SHOW", .show(session: .bound)),
        ("logout", .logout(session: .bound)),
        ("logout \(token)", .logout(session: .token(sessionToken))),
        (
            "register messi surabaya \"Lionel Messi\" Argentina",
            .register(username: "messi", password: "surabaya", name: "Lionel Messi", country: "Argentina")
        ),
        (
            "register Budi rahasia123 Budi \"Indonesia Raya\"",
            .register(username: "budi", password: "rahasia123", name: "Budi", country: "Indonesia Raya")
        ),
        (
            "register budi rahasia123 \"Budi  Santoso\"\t\"Indonesia\" extra",
            .register(username: "budi", password: "rahasia123", name: "Budi  Santoso", country: "Indonesia")
        ),
        (
            "register a pass1234 Ra\"B \"udi\"",
            .register(username: "a", password: "pass1234", name: "Ra\"B", country: "udi")
        ),
        ("ping", .ping),
        ("PING anything at all", .ping),
        ("pInG", .ping),
        ("Send Henderson hi", .send(session: .bound, recipients: ["henderson"], text: "hi")),
        ("INBOX", .inbox(session: .bound)),
        ("Show", .show(session: .bound)),
        ("LogOut", .logout(session: .bound)),
        ("CONVERSATIONS", .conversations(session: .bound)),
        ("UnSubscribe", .unsubscribe(session: .bound)),
        // Unicode folding, as `lowercased()` (and Python's `lower()`) gives it: the Kelvin
        // sign's lower case is "k".
        ("AC\u{212A} 1", .ack(session: .bound, ids: "1")),
        ("send 😀 hello ünïcode", .send(session: .bound, recipients: ["😀"], text: "hello ünïcode")),
        ("send ÜBER,Çelik hi", .send(session: .bound, recipients: ["über", "çelik"], text: "hi")),
        ("send a\u{0301} hi", .send(session: .bound, recipients: ["a\u{0301}"], text: "hi")),
        ("send henderson \u{0301}hi", .send(session: .bound, recipients: ["henderson"], text: "\u{0301}hi")),
        ("subscribe", .subscribe(session: .bound, presence: false)),
        ("SUBSCRIBE Presence", .subscribe(session: .bound, presence: true)),
        ("subscribe \(token)", .subscribe(session: .token(sessionToken), presence: false)),
        ("subscribe \(token) presence extra", .subscribe(session: .token(sessionToken), presence: true)),
        ("subscribe other-word", .subscribe(session: .bound, presence: false)),
        ("unsubscribe", .unsubscribe(session: .bound)),
        ("unsubscribe \(token)", .unsubscribe(session: .token(sessionToken))),
        ("ack 1,2,3", .ack(session: .bound, ids: "1,2,3")),
        ("ack \(token) 42", .ack(session: .token(sessionToken), ids: "42")),
        ("ack x,,y", .ack(session: .bound, ids: "x,,y")),
        ("history Henderson", .history(session: .bound, with: "henderson", limit: nil, beforeID: nil)),
        ("history henderson 10", .history(session: .bound, with: "henderson", limit: "10", beforeID: nil)),
        ("history \(token) henderson 10 99 extra", .history(session: .token(sessionToken), with: "henderson", limit: "10", beforeID: "99")),
        ("history henderson x y", .history(session: .bound, with: "henderson", limit: "x", beforeID: "y")),
        ("conversations", .conversations(session: .bound)),
        ("conversations \(token)", .conversations(session: .token(sessionToken))),
    ]

    @Test("accepted lines", arguments: acceptedLines)
    func accepted(line: String, expected: Request) throws {
        let parsed = try #require(RequestParser.parse(line: line))
        #expect(try parsed.get() == expected)
    }

    static let malformedLines: [String] = [
        "auth", "auth messi", "hello", "send", "send \(token)", "register a b c",
        "register a b \"unclosed name Argentina", "register a b \"x\"y z", "authx messi surabaya",
        "ack", "ack \(token)", "history", "history \(token)",
        // Near misses of command words: one letter off, one too many or too few, the
        // punctuation beside the letters in ASCII, non-ASCII look-alikes.
        "pinh", "pin", "pingg", "sen", "sendd henderson hi", "p@ng", "p[ng", "p\u{0130}ng", "\u{0131}nbox", "Pıng",
    ]

    @Test("malformed lines get Protocol Tidak Benar", arguments: malformedLines)
    func malformed(line: String) throws {
        let parsed = try #require(RequestParser.parse(line: line))
        #expect(throws: Refusal.malformedRequest) { try parsed.get() }
    }

    @Test("empty and blank lines get no reply", arguments: ["", " ", "\t \t"])
    func blank(line: String) {
        #expect(RequestParser.parse(line: line) == nil)
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() throws {
        let parsed = try #require(RequestParser.parse(line: ByteBuffer(bytes: [0x61, 0xFF, 0x62])))
        #expect(throws: Refusal.invalidEncoding) { try parsed.get() }
        let overlong = try #require(RequestParser.parse(line: ByteBuffer(bytes: Array("ping ".utf8) + [0xC0, 0xAF])))
        #expect(throws: Refusal.invalidEncoding) { try overlong.get() }
        let truncated = try #require(RequestParser.parse(line: ByteBuffer(bytes: Array("send henderson ".utf8) + [0xF0, 0x9F, 0x91])))
        #expect(throws: Refusal.invalidEncoding) { try truncated.get() }
    }

    @Test("valid UTF-8 beyond ASCII, read from bytes, is parsed like the same text")
    func validUTF8Bytes() throws {
        let line = "send henderson Selamat pagi, Señor 👋 ĀĒĪ"
        let parsed = try #require(RequestParser.parse(line: ByteBuffer(string: line)))
        #expect(try parsed.get() == .send(session: .bound, recipients: ["henderson"], text: "Selamat pagi, Señor 👋 ĀĒĪ"))
        #expect(RequestParser.parse(line: line) == parsed)
    }

    @Test("session tokens have the exact UUID shape")
    func tokenShape() {
        #expect(SessionToken(Self.token)?.text == Self.token)
        #expect(SessionToken(Self.token.uppercased())?.text == Self.token)
        #expect(SessionToken("8cab384c10cf-417e-befd-b17a1074e5e9x") == nil)
        #expect(SessionToken("8cab384c-10cf-417e-befd-b17a1074e5e") == nil)
        #expect(SessionToken("gcab384c-10cf-417e-befd-b17a1074e5e9") == nil)
        #expect(SessionToken("8CaB384c-10cF-417E-bEFd-B17a1074e5E9")?.text == Self.token)
        // Every position, with a byte next to the ranges a token's bytes come from, or a
        // dash where a digit belongs and a digit where a dash belongs.
        let characters = Array(Self.token)
        for position in characters.indices {
            let isDash = characters[position] == "-"
            for replacement in isDash ? ["0", "a", "_", " "] : ["-", "/", ":", "@", "G", "`", "g", "é"] {
                var changed = characters
                changed[position] = Character(replacement)
                #expect(SessionToken(String(changed)) == nil, "\(String(changed))")
            }
        }
        #expect(!"\(SessionToken(Self.token)!)".contains(Self.token))
    }

    @Test("a token is the 128-bit number its hex digits spell, the first digit on top")
    func tokenBits() {
        let token = SessionToken(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        #expect(token.text == "01234567-89ab-cdef-fedc-ba9876543210")
        #expect(SessionToken("01234567-89AB-cdef-FEDC-ba9876543210") == token)
        #expect(SessionToken("01234567-89ab-cdef-fedc-ba9876543211") != token)
        #expect(SessionToken("11234567-89ab-cdef-fedc-ba9876543210") != token)
        #expect(SessionToken(high: 0, low: 0).text == "00000000-0000-0000-0000-000000000000")
        #expect(SessionToken(high: .max, low: .max).text == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }

    @Test("requests encode to lines that parse back to themselves")
    func roundTrip() throws {
        for (_, request) in Self.acceptedLines {
            if case .send(_, _, let text) = request, text.isEmpty || text.hasSuffix("\r") { continue }
            let line = RequestEncoder.line(for: request)
            #expect(line.utf8.suffix(2).elementsEqual("\r\n".utf8))
            let parsed = try #require(RequestParser.parse(line: String(decoding: line.utf8.dropLast(2), as: UTF8.self)))
            #expect(try parsed.get() == request, "\(line)")
        }
    }
}
