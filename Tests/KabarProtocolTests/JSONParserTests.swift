import KabarProtocol
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    @Test("keeps key order and reads the original server's \\u escapes")
    func orderAndEscapes() throws {
        let value = try JSONParser.parse(#"{"b": [1, true, null], "a": "caf\u00e9 \ud83d\ude00 \n\"x\""}"#)
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["b", "a"])
        #expect(value["a"] == .string("café 😀 \n\"x\""))
        #expect(value["b"] == .array([.number("1"), .bool(true), .null]))
    }

    @Test("rejects what is not JSON", arguments: ["", "{", #"{"a" 1}"#, #"["a",]"#, #""\ud800""#, "{} x", #""a\x""#, "01x"])
    func rejects(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test("deep nesting is refused, not a crash")
    func depth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(deep) }
    }
}
