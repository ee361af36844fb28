import KabarProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - LiveLine

/// How `kabar-cli` shows one message on a line of its own: `[15:04] messi: hello`, the
/// time in the local time zone (`TZ`).
public enum LiveLine {
    public static func render(_ message: ChatMessage) -> String {
        "[\(clockTime(milliseconds: message.timeMilliseconds))] \(message.from): \(message.text)"
    }

    /// `HH:MM` of a time in milliseconds since 1970, in the local time zone.
    static func clockTime(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return "\(twoDigits(Int(parts.tm_hour))):\(twoDigits(Int(parts.tm_min)))"
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}
