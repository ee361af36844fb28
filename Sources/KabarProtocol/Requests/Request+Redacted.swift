// MARK: - Redacted descriptions

// A request or a token may end up in a log line or an error's text (`"\(request)"`,
// `dump`, a test failure). The synthesized description would print a password or a whole
// token there, so these types describe themselves without them: passwords never, tokens
// by their first eight characters only (``SessionToken/redacted``), message texts by their
// length. `Mirror` is redacted too, because `dump` and debuggers read it.

extension Request: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The request with its secrets left out, e.g. `auth(username: "messi", password: <redacted>)`.
    public var description: String {
        let fields = redactedFields.map { "\($0.label): \($0.value)" }.joined(separator: ", ")
        return fields.isEmpty ? commandWord : "\(commandWord)(\(fields))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: redactedFields.map { (label: Optional($0.label), value: $0.value as Any) }, displayStyle: .enum)
    }

    private var commandWord: String {
        switch self {
        case .auth: "auth"
        case .send: "send"
        case .inbox: "inbox"
        case .show: "show"
        case .logout: "logout"
        case .register: "register"
        case .ping: "ping"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .ack: "ack"
        case .history: "history"
        case .conversations: "conversations"
        }
    }

    private var redactedFields: [(label: String, value: String)] {
        switch self {
        case .auth(let username, _):
            [("username", quoted(username)), ("password", redactedMarker)]
        case .send(let session, let recipients, let text):
            [("session", session.description), ("recipients", "\(recipients)"), ("text", "<\(text.utf8.count) bytes>")]
        case .inbox(let session), .show(let session), .logout(let session):
            [("session", session.description)]
        case .register(let username, _, let name, let country):
            [("username", quoted(username)), ("password", redactedMarker), ("name", quoted(name)), ("country", quoted(country))]
        case .ping:
            []
        case .subscribe(let session, let presence):
            [("session", session.description), ("presence", "\(presence)")]
        case .unsubscribe(let session):
            [("session", session.description)]
        case .ack(let session, let ids):
            [("session", session.description), ("ids", quoted(ids))]
        case .history(let session, let peer, let limit, let beforeID):
            [("session", session.description), ("with", quoted(peer)), ("limit", quoted(limit ?? "")), ("beforeID", quoted(beforeID ?? ""))]
        case .conversations(let session):
            [("session", session.description)]
        }
    }
}

extension SessionReference: CustomReflectable {
    public var customMirror: Mirror { Mirror(self, children: ["session": description], displayStyle: .enum) }
}

extension SessionToken: CustomReflectable {
    public var customMirror: Mirror { Mirror(self, children: ["redacted": redacted], displayStyle: .struct) }
}

/// What stands where a secret was left out.
let redactedMarker = "<redacted>"

private func quoted(_ text: String) -> String {
    "\"\(text.prefix(64))\""
}
