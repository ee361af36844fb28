// MARK: - ChatMessage

/// One stored message, as the live-delivery commands show it (PROTOCOL.md, "Live
/// delivery, history and conversations"):
///
///     {"id": 42, "from": "messi", "to": "henderson", "msg_from": "Lionel Messi",
///      "msg_to": "Jordan Henderson", "msg": "hello", "time": "2026-12-02T03:00:00.123Z"}
///
/// A `send` to several users makes one message per recipient.
public struct ChatMessage: Hashable, Sendable {
    /// Unique on the server; ids increase in commit order.
    public var id: Int64
    /// The sender's username.
    public var from: String
    /// The recipient's username.
    public var to: String
    /// The sender's full name when the message was sent.
    public var fromName: String
    /// The recipient's full name.
    public var toName: String
    public var text: String
    /// When the server took the message in, in milliseconds since 1970 (UTC).
    public var timeMilliseconds: Int64

    public init(id: Int64, from: String, to: String, fromName: String, toName: String, text: String, timeMilliseconds: Int64) {
        self.id = id
        self.from = from
        self.to = to
        self.fromName = fromName
        self.toName = toName
        self.text = text
        self.timeMilliseconds = timeMilliseconds
    }
}

// MARK: - LiveEvent

/// What a subscribed connection is told without asking: one event frame each.
public enum LiveEvent: Hashable, Sendable {
    /// A message to the subscriber's user: `{"status": "OK", "event": "message", "message": …}`.
    case message(ChatMessage)
    /// A message the subscriber's user sent from another connection: `"event": "sent"`.
    case sent(ChatMessage)
    /// A user came online or went offline (subscriptions with `presence` only).
    case presence(OnlineUser, isOnline: Bool)

    /// The message the event carries, if it carries one.
    public var chatMessage: ChatMessage? {
        switch self {
        case .message(let message), .sent(let message): message
        case .presence: nil
        }
    }
}

// MARK: - UTCTime

/// Formats times as PROTOCOL.md writes them: UTC, ISO 8601, milliseconds, `Z`
/// (`2026-12-02T03:00:00.123Z`), without Foundation's formatters.
public enum UTCTime {
    /// The text of `milliseconds` since 1970-01-01T00:00:00Z (times before 1970 are
    /// written as 1970).
    public static func iso8601(milliseconds: Int64) -> String {
        String(unsafeUninitializedCapacity: 24) { buffer in
            withBytes(milliseconds: milliseconds) { bytes in
                for (index, byte) in bytes.enumerated() { buffer[index] = byte }
            }
            return 24
        }
    }

    /// Hands the 24 bytes of ``iso8601(milliseconds:)`` to `body`, without building a
    /// string (a `conversations` reply writes thousands of them).
    public static func withBytes<T>(milliseconds: Int64, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        let milliseconds = max(0, milliseconds)
        let millisecondOfDay = milliseconds % 86_400_000
        let (year, month, day) = civilDate(daysSince1970: milliseconds / 86_400_000)
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &text) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var index = 0
            func put(_ value: Int64, digits: Int, then separator: UInt8?) {
                var divisor: Int64 = 1
                for _ in 1..<digits { divisor *= 10 }
                var rest = value
                while divisor > 0 {
                    bytes[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: (rest / divisor) % 10)
                    rest %= divisor
                    divisor /= 10
                    index += 1
                }
                if let separator {
                    bytes[index] = separator
                    index += 1
                }
            }
            put(year % 10_000, digits: 4, then: UInt8(ascii: "-"))
            put(month, digits: 2, then: UInt8(ascii: "-"))
            put(day, digits: 2, then: UInt8(ascii: "T"))
            put(millisecondOfDay / 3_600_000, digits: 2, then: UInt8(ascii: ":"))
            put(millisecondOfDay / 60_000 % 60, digits: 2, then: UInt8(ascii: ":"))
            put(millisecondOfDay / 1_000 % 60, digits: 2, then: UInt8(ascii: "."))
            put(millisecondOfDay % 1_000, digits: 3, then: UInt8(ascii: "Z"))
            return body(UnsafeBufferPointer(bytes))
        }
    }

    /// The milliseconds since 1970 of a time written as ``iso8601(milliseconds:)`` writes
    /// it (`YYYY-MM-DDTHH:MM:SS.mmmZ`); nil for any other text.
    public static func milliseconds(iso8601 text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "."), bytes[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19), let millisecond = number(20..<23),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysSince1970(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millisecond
    }

    /// The day count of a date (Howard Hinnant's `days_from_civil`).
    static func daysSince1970(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Year, month and day of a day count (Howard Hinnant's `civil_from_days`).
    static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

}
