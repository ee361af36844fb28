import ArgumentParser
import Logging

// MARK: - LoggingOptions

struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (KABAR_LOG_LEVEL).")
    var logLevel: Logger.Level = Environment.string("KABAR_LOG_LEVEL").flatMap { Logger.Level(rawValue: $0) } ?? .info

    /// Sends logs to standard error, one line per event, and returns the root logger.
    func bootstrap() -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "kabar")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
