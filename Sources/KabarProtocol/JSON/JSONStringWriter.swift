import NIOCore

// MARK: - JSONStringWriter

/// Writes a JSON string literal the way Python's `json.dumps(..., ensure_ascii=False)`
/// does: `"` and `\` escaped, `\n \r \t \b \f` by name, other control characters below
/// U+0020 as `\u00xx` (lower-case hex), everything else as raw UTF-8.
public enum JSONStringWriter {
    public static func write(_ string: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        // Fast path: most text needs no escaping and is copied in one go.
        if string.utf8.contains(where: needsEscaping) {
            for byte in string.utf8 { writeEscaped(byte, into: &buffer) }
        } else {
            buffer.writeString(string)
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    private static func writeEscaped(_ byte: UInt8, into buffer: inout ByteBuffer) {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
        case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
        case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
        case 0x08: buffer.writeStaticString("\\b")
        case 0x0C: buffer.writeStaticString("\\f")
        case ..<0x20:
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(hexDigits[Int(byte >> 4)])
            buffer.writeInteger(hexDigits[Int(byte & 0x0F)])
        default:
            buffer.writeInteger(byte)
        }
    }
}
