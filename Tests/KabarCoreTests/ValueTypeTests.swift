@testable import KabarCore
import KabarProtocol
import Testing

@Suite("Value types and hashing")
struct ValueTypeTests {
    @Test("usernames fold case and follow [a-z0-9][a-z0-9_.-]{0,31}")
    func usernames() {
        #expect(Username("Messi")?.text == "messi")
        #expect(Username("Messi") == Username("messi"))
        #expect(Username("MESSI.Jr_10-x")?.text == "messi.jr_10-x")
        #expect(Username("messi"[...])?.text == "messi")
        // Folding follows Unicode's rules beyond ASCII, as `lowercased()` does: the Kelvin
        // sign folds to an ASCII `k`; a dotted capital I to `i` and a combining dot.
        #expect(Username("\u{212A}ing")?.text == "king")
        #expect(Username("\u{0130}stanbul") == nil)
        for valid in ["a", "0", "a.b-c_d", String(repeating: "z", count: 32)] { #expect(Username(valid) != nil, "\(valid)") }
        for invalid in ["", "-a", ".a", "_a", "a b", "ü", String(repeating: "z", count: 33), "8cab384c-10cf-417e-befd-b17a1074e5e9"] {
            #expect(Username(invalid) == nil, "\(invalid)")
        }
    }

    @Test("passwords: 8 to 256 bytes, no whitespace; never printed")
    func passwords() {
        #expect(Password("12345678") != nil)
        #expect(Password("1234567") == nil)
        #expect(Password(String(repeating: "p", count: 256)) != nil)
        #expect(Password(String(repeating: "p", count: 257)) == nil)
        #expect(Password("pass word") == nil)
        #expect(Password("ünïcödé") != nil)  // 11 bytes
        let password = Password("surabaya")!
        var dumped = ""
        dump(password, to: &dumped)
        for text in ["\(password)", String(reflecting: password), dumped, "\([password])"] {
            #expect(!text.contains("surabaya"), "\(text)")
        }
    }

    @Test("a connection bound to a session never shows its whole token")
    func connectionContextRedactsToken() throws {
        let token = try #require(SessionToken("8cab384c-10cf-417e-befd-b17a1074e5e9"))
        var context = ConnectionContext(id: 1, clientAddress: "127.0.0.1", lane: RequestLane(runsInCallOrder: true))
        context.boundToken = token
        var dumped = ""
        dump(context, to: &dumped)
        for text in ["\(context)", String(reflecting: context), dumped] {
            #expect(!text.contains(token.text), "\(text)")
            #expect(!text.contains("b17a1074e5e9"), "\(text)")
        }
    }

    @Test("profiles: 1 to 64 characters, no control characters, not blank")
    func profiles() {
        #expect(Profile(name: "Lionel Messi", country: "Argentina") != nil)
        #expect(Profile(name: "", country: "X") == nil)
        #expect(Profile(name: "   ", country: "X") == nil)
        #expect(Profile(name: "a\nb", country: "X") == nil)
        #expect(Profile(name: String(repeating: "n", count: 65), country: "X") == nil)
    }

    @Test("random tokens are UUID v4, distinct, and hash to 32 bytes")
    func tokens() {
        let tokens = (0..<1000).map { _ in SessionToken.random() }
        #expect(Set(tokens).count == 1000)
        for token in tokens.prefix(20) {
            let characters = Array(token.text)
            #expect(characters[14] == "4")
            #expect("89ab".contains(characters[19]))
            #expect(TokenHash(token).bytes.count == 32)
        }
        #expect(TokenHash(tokens[0]) != TokenHash(tokens[1]))
        // Each read back from its text is itself, and every digit but the version's varies.
        #expect(tokens.allSatisfy { SessionToken($0.text) == $0 })
        let texts = tokens.map { Array($0.text) }
        for offset in 0..<36 where ![8, 13, 14, 18, 23].contains(offset) {
            #expect(Set(texts.map { $0[offset] }).count >= (offset == 19 ? 4 : 12), "offset \(offset)")
        }
    }

    @Test("scrypt hashes: salted, self-describing, verified in constant time; unreadable hashes never match")
    func scrypt() async throws {
        let pool = BlockingWorkPool(threadCount: 1)
        let hasher = ScryptPasswordHasher(pool: pool)
        let first = try await hasher.hash("surabaya")
        let second = try await hasher.hash("surabaya")
        #expect(first.hasPrefix("$scrypt$ln=14,r=8,p=1$"))
        #expect(first != second)
        #expect(!first.contains("surabaya"))
        #expect(try await hasher.verify("surabaya", against: first))
        #expect(try await !hasher.verify("Surabaya", against: first))
        let cheap = ScryptPasswordHasher(parameters: .init(logRounds: 4, blockSize: 1, parallelism: 1), pool: pool)
        let cheapHash = try await cheap.hash("x")
        #expect(try await hasher.verify("x", against: cheapHash), "old parameters stay readable")
        for broken in ["", "surabaya", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA", String(first.dropLast(4))] {
            #expect(try await !hasher.verify("surabaya", against: broken))
        }
    }
}

@Suite("ack id lists")
struct MessageIDListTests {
    @Test("positive decimal numbers joined by single commas, 1 to 1,000 of them")
    func accepted() {
        #expect(MessageIDList.parse("42") == [42])
        #expect(MessageIDList.parse("1,2,2,3") == [1, 2, 2, 3])
        #expect(MessageIDList.parse("007") == [7])
        #expect(MessageIDList.parse((1...1_000).map(String.init).joined(separator: ",")) == Array(1...1_000))
    }

    @Test("anything else is malformed", arguments: [
        "", ",", "1,", ",1", "1,,2", "0", "-1", "+1", "1.5", "1e3", " 1", "1 ", "a", "9223372036854775808",
        (1...1_001).map(String.init).joined(separator: ","),
    ])
    func malformed(list: String) {
        #expect(MessageIDList.parse(list) == nil)
    }
}
