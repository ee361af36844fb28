// MARK: - Request

/// One parsed request line. See PROTOCOL.md, "Compatible core" and "Extensions".
public enum Request: Hashable, Sendable {
    /// `auth USERNAME PASSWORD`. The username is already folded to lower case.
    case auth(username: String, password: String)
    /// `send [TOKEN] TO MESSAGE...`: `recipients` is `TO` split at commas (folded to
    /// lower case, duplicates kept for the service to judge), `text` the trimmed rest.
    case send(session: SessionReference, recipients: [String], text: String)
    /// `inbox [TOKEN]`
    case inbox(session: SessionReference)
    /// `show [TOKEN]`
    case show(session: SessionReference)
    /// `logout [TOKEN]`
    case logout(session: SessionReference)
    /// `register USERNAME PASSWORD NAME COUNTRY` (NAME and COUNTRY may be double-quoted).
    case register(username: String, password: String, name: String, country: String)
    /// `ping`
    case ping
    /// `subscribe [TOKEN] [presence]`: replay what is unread, then push events.
    case subscribe(session: SessionReference, presence: Bool)
    /// `unsubscribe [TOKEN]`
    case unsubscribe(session: SessionReference)
    /// `ack [TOKEN] ID[,ID...]`: `ids` is the list as sent; the service checks its form
    /// after the session, as PROTOCOL.md orders the checks.
    case ack(session: SessionReference, ids: String)
    /// `history [TOKEN] USERNAME [LIMIT] [BEFORE_ID]`: `with` folded to lower case; LIMIT
    /// and BEFORE_ID as sent, checked by the service after the session.
    case history(session: SessionReference, with: String, limit: String?, beforeID: String?)
    /// `conversations [TOKEN]`
    case conversations(session: SessionReference)
}

/// Which session a request acts for.
public enum SessionReference: Hashable, Sendable, CustomStringConvertible {
    /// No token given: the session the connection is bound to.
    case bound
    /// A token was given.
    case token(SessionToken)
    /// For `inbox`, `show` and `logout` any first word counts as a token: this is one
    /// without the token's shape, as sent. It names no session.
    case malformedToken(String)

    public var description: String {
        switch self {
        case .bound: "bound"
        case .token(let token): "token(\(token.redacted))"
        case .malformedToken(let word): "token(\(word.prefix(8))…)"
        }
    }
}
