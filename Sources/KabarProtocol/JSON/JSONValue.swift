// MARK: - JSONValue

/// A parsed JSON value whose objects keep their keys in order (the order of inbox
/// groups carries meaning, and the client prints them back as they came).
public enum JSONValue: Hashable, Sendable {
    case string(String)
    /// A number, kept as its literal text (Kabar replies carry none).
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The value under `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// A number written as a whole decimal that fits an `Int`, else nil.
    public var integerValue: Int? {
        guard case .number(let literal) = self else { return nil }
        return Int(literal)
    }

    public var stringValue: String? {
        guard case .string(let string) = self else { return nil }
        return string
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let string): hasher.combine(string)
        case .number(let literal): hasher.combine(literal)
        case .bool(let bool): hasher.combine(bool)
        case .null: hasher.combine(0)
        case .array(let values): hasher.combine(values)
        case .object(let members):
            for member in members {
                hasher.combine(member.key)
                hasher.combine(member.value)
            }
        }
    }
}
