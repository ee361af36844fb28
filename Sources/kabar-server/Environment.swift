#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Environment

/// Defaults for command-line options from `KABAR_*` environment variables.
enum Environment {
    static func string(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static func int(_ name: String) -> Int? {
        string(name).flatMap { Int($0) }
    }

    /// `1`, `true`, `yes`, `on` are true; `0`, `false`, `no`, `off` false; anything else,
    /// or no variable, is `defaultValue`.
    static func bool(_ name: String, default defaultValue: Bool = false) -> Bool {
        switch string(name)?.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: defaultValue
        }
    }
}
