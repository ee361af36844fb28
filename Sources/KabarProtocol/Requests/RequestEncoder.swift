// MARK: - RequestEncoder

/// Writes a ``Request`` as the line a client sends, `\r\n` included.
public enum RequestEncoder {
    public static func line(for request: Request) -> String {
        "\(words(of: request).joined(separator: " "))\r\n"
    }

    private static func words(of request: Request) -> [String] {
        switch request {
        case .auth(let username, let password):
            return ["auth", username, password]
        case .send(let session, let recipients, let text):
            return ["send"] + tokenWord(session) + [recipients.joined(separator: ","), text]
        case .inbox(let session):
            return ["inbox"] + tokenWord(session)
        case .show(let session):
            return ["show"] + tokenWord(session)
        case .logout(let session):
            return ["logout"] + tokenWord(session)
        case .register(let username, let password, let name, let country):
            return ["register", username, password, "\"\(name)\"", "\"\(country)\""]
        case .ping:
            return ["ping"]
        }
    }

    private static func tokenWord(_ session: SessionReference) -> [String] {
        switch session {
        case .bound: []
        case .token(let token): [token]
        }
    }
}
