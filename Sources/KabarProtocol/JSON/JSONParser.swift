// MARK: - JSONParser

/// A small, strict JSON parser (RFC 8259) that keeps object keys in order.
///
/// Clients need it to read replies from any server speaking the protocol, including the
/// original, which escaped non-ASCII text as `\uXXXX` (surrogate pairs included).
public struct JSONParser {
    /// Why a text is not JSON: the byte offset where parsing stopped.
    public struct SyntaxError: Error, Hashable, Sendable {
        public var offset: Int
    }

    private let bytes: [UInt8]
    private var offset = 0
    private var depth = 0
    private static let maximumDepth = 64

    /// Parses a complete JSON text.
    public static func parse(_ text: String) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.offset == parser.bytes.count else { throw SyntaxError(offset: parser.offset) }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: - Values

    private mutating func parseValue() throws(SyntaxError) -> JSONValue {
        skipWhitespace()
        guard let byte = peek() else { throw failure() }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    private mutating func parseObject() throws(SyntaxError) -> JSONValue {
        try enterContainer()
        offset += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            offset += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw failure() }
            let key = try parseString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw failure() }
            offset += 1
            members.append((key, try parseValue()))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                depth -= 1
                return .object(members)
            default: throw failure()
            }
        }
    }

    private mutating func parseArray() throws(SyntaxError) -> JSONValue {
        try enterContainer()
        offset += 1
        var values: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            offset += 1
            depth -= 1
            return .array(values)
        }
        while true {
            values.append(try parseValue())
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                depth -= 1
                return .array(values)
            default: throw failure()
            }
        }
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        offset += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var rawStart = offset
        while true {
            guard let byte = peek() else { throw failure() }
            switch byte {
            case UInt8(ascii: "\""):
                try appendRaw(from: rawStart, to: offset, into: &scalars)
                offset += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                try appendRaw(from: rawStart, to: offset, into: &scalars)
                offset += 1
                scalars.append(try parseEscape())
                rawStart = offset
            case ..<0x20:
                throw failure()
            default:
                offset += 1
            }
        }
    }

    private mutating func parseEscape() throws(SyntaxError) -> Unicode.Scalar {
        guard let byte = peek() else { throw failure() }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try parseHexQuad()
            if (0xD800..<0xDC00).contains(unit) {
                guard peek() == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
                else { throw failure() }
                offset += 2
                let low = try parseHexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw failure() }
                let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else { throw failure() }
                return scalar
            }
            guard let scalar = Unicode.Scalar(unit) else { throw failure() }
            return scalar
        default:
            throw failure()
        }
    }

    private mutating func parseHexQuad() throws(SyntaxError) -> UInt16 {
        guard offset + 4 <= bytes.count else { throw failure() }
        var value: UInt16 = 0
        for byte in bytes[offset..<offset + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure()
            }
            value = value << 4 | UInt16(digit)
        }
        offset += 4
        return value
    }

    private mutating func parseNumber() throws(SyntaxError) -> String {
        let start = offset
        while let byte = peek(), byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        {
            offset += 1
        }
        guard offset > start, let literal = String(validating: bytes[start..<offset], as: UTF8.self),
            Double(literal) != nil
        else { throw failure() }
        return literal
    }

    // MARK: - Helpers

    private mutating func appendRaw(from start: Int, to end: Int, into scalars: inout String.UnicodeScalarView)
        throws(SyntaxError)
    {
        guard end > start else { return }
        guard let text = String(validating: bytes[start..<end], as: UTF8.self) else { throw failure() }
        scalars.append(contentsOf: text.unicodeScalars)
    }

    private mutating func enterContainer() throws(SyntaxError) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure() }
    }

    private mutating func expect(_ literal: StaticString) throws(SyntaxError) {
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        guard offset + expected.count <= bytes.count, bytes[offset..<offset + expected.count].elementsEqual(expected)
        else { throw failure() }
        offset += expected.count
    }

    private mutating func skipWhitespace() {
        while let byte = peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            offset += 1
        }
    }

    private func peek() -> UInt8? {
        offset < bytes.count ? bytes[offset] : nil
    }

    private func failure() -> SyntaxError {
        SyntaxError(offset: offset)
    }
}
