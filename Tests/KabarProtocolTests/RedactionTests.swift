import KabarProtocol
import Testing

/// Every type that holds a password or a whole token leaves it out of every way Swift
/// turns a value into text: interpolation, `String(reflecting:)`, `dump` (the mirror),
/// and as part of a larger value.
@Suite("Redacted descriptions")
struct RedactionTests {
    static let password = "surabaya-secret"
    static let token = SessionToken("8cab384c-10cf-417e-befd-b17a1074e5e9")!

    @Test(
        "requests never show a password or a whole token",
        arguments: [
            Request.auth(username: "messi", password: password),
            .register(username: "budi", password: password, name: "Budi Santoso", country: "Indonesia"),
            .send(session: .token(token), recipients: ["henderson"], text: "halo"),
            .inbox(session: .token(token)),
            .show(session: .token(token)),
            .logout(session: .token(token)),
        ]
    )
    func requests(request: Request) {
        expectNoSecret(in: request)
        expectNoSecret(in: [request])
        expectNoSecret(in: Optional(request))
    }

    @Test("the redacted text still says what the request was")
    func requestsStayReadable() {
        #expect("\(Request.auth(username: "messi", password: Self.password))" == #"auth(username: "messi", password: <redacted>)"#)
        #expect("\(Request.inbox(session: .token(Self.token)))" == "inbox(session: token(8cab384c…))")
        #expect("\(Request.send(session: .bound, recipients: ["henderson"], text: "halo"))" == #"send(session: bound, recipients: ["henderson"], text: <4 bytes>)"#)
        #expect("\(Request.ping)" == "ping")
    }

    @Test("tokens, session references and replies that carry a token")
    func tokens() {
        expectNoSecret(in: Self.token)
        expectNoSecret(in: SessionReference.token(Self.token))
        expectNoSecret(in: Reply.loggedIn(Self.token))
        expectNoSecret(in: Reply.loggedOut(Self.token))
        #expect("\(Self.token)".contains("8cab384c"))
    }
}

/// Checks that none of the ways of describing `value` contains the test's secrets.
func expectNoSecret<T>(in value: T, sourceLocation: SourceLocation = #_sourceLocation) {
    var dumped = ""
    dump(value, to: &dumped)
    for text in ["\(value)", String(reflecting: value), dumped] {
        #expect(!text.contains(RedactionTests.password), "shows the password: \(text)", sourceLocation: sourceLocation)
        #expect(!text.contains(RedactionTests.token.text), "shows the whole token: \(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("b17a1074e5e9"), "shows the token's end: \(text)", sourceLocation: sourceLocation)
    }
}
