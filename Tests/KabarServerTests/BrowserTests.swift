import Foundation
import KabarTestSupport
import Testing

/// The web client in a real headless Chromium against a real kabar-server: two browser
/// users and a kabar-cli user talking, unread badges, history paging, HTML shown as text,
/// a server restart. The scenarios are in Tests/Browser/web_client_test.py (Selenium);
/// their screenshots are kept in test-artifacts/browser.
@Suite("Web client in Chromium", .enabled(if: Chromium.isAvailable, Comment(rawValue: Chromium.howToEnable)))
struct BrowserTests {
    /// The package's folder, from this file's place in it.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("two browser users and a kabar-cli user talk; badges, history pages, HTML as text, reconnecting after a restart")
    func scenarios() async throws {
        let artifacts = Self.packageRoot.appendingPathComponent("test-artifacts/browser").path
        let result = try await runCommand(
            "/usr/bin/env",
            [
                "python3", Self.packageRoot.appendingPathComponent("Tests/Browser/web_client_test.py").path,
                "--server", productPath("kabar-server"), "--cli", productPath("kabar-cli"), "--artifacts", artifacts,
            ],
            environment: ["KABAR_TEST_TIME_SCALE": "\(testTimeScale)"],
            timeout: .seconds(300 * testTimeScale)
        )
        let text = result.output + result.errorOutput
        print(text)
        #expect(result.status == 0, "\(text)")
        for scenario in ["errors", "talk", "history", "text", "reconnect"] {
            #expect(text.contains("ok: \(scenario)"))
            #expect(FileManager.default.fileExists(atPath: "\(artifacts)/\(scenario)-messi.png"))
        }
    }
}

/// Whether a real browser can be driven here.
enum Chromium {
    static let howToEnable =
        "Chromium, its driver or Selenium is missing: `apt-get install chromium chromium-driver` and `pip install selenium` to run the browser tests"

    static let isAvailable: Bool = {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        let found = { (name: String) in paths.contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") } }
        guard found("chromium") || found("chromium-browser"), found("chromedriver"), found("python3") else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import selenium"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()
}
