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
            return ["register", username, password, quotedIfNeeded(name), quotedIfNeeded(country)]
        case .ping:
            return ["ping"]
        case .subscribe(let session, let presence):
            return ["subscribe"] + tokenWord(session) + (presence ? ["presence"] : [])
        case .unsubscribe(let session):
            return ["unsubscribe"] + tokenWord(session)
        case .ack(let session, let ids):
            return ["ack"] + tokenWord(session) + [ids]
        case .history(let session, let peer, let limit, let beforeID):
            return ["history"] + tokenWord(session) + [peer] + [limit ?? (beforeID == nil ? nil : "50"), beforeID].compactMap { $0 }
        case .conversations(let session):
            return ["conversations"] + tokenWord(session)
        }
    }

    /// A NAME or COUNTRY as the parser reads it back: bare when it is one word that does
    /// not open with a quote, otherwise in double quotes (a text with both whitespace and
    /// a `"` cannot be sent; the server answers it with `Protocol Tidak Benar`).
    private static func quotedIfNeeded(_ text: String) -> String {
        let isBareWord = !text.isEmpty && !text.hasPrefix("\"") && !text.contains(" ") && !text.contains("\t")
        return isBareWord ? text : "\"\(text)\""
    }

    private static func tokenWord(_ session: SessionReference) -> [String] {
        switch session {
        case .bound: []
        case .token(let token): [token.text]
        case .malformedToken(let word): [word]
        }
    }
}
