import Foundation
import HTTPTypes
import Hummingbird

// MARK: - WebPage

/// The web client's files, kept as resources of the package and read once.
enum WebPage {
    struct File: Sendable {
        let bytes: [UInt8]
        let contentType: String
    }

    /// By path: `/` is the page.
    static let files: [String: File] = {
        var files: [String: File] = [:]
        for (path, name, type) in [
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/app.js", "app.js", "text/javascript; charset=utf-8"),
            ("/style.css", "style.css", "text/css; charset=utf-8"),
        ] {
            guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Page"),
                let data = try? Data(contentsOf: url)
            else { continue }
            files[path] = File(bytes: Array(data), contentType: type)
        }
        return files
    }()

    /// No inline script or style, nothing from elsewhere, no framing: what the page needs
    /// and nothing more. (`connect-src 'self'` covers the page's own WebSocket.)
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func response(for path: String) -> Response {
        guard let file = files[path] else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.contentType] = file.contentType
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}
