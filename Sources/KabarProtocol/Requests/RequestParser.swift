import NIOCore

// MARK: - RequestParser

/// Turns one request line into a ``Request``.
///
/// PROTOCOL.md, "Framing" and "Compatible core":
///
///     COMMAND SP PARAM1 SP PARAM2 ...
///
/// - words are separated by one or more spaces or tabs; leading and trailing whitespace
///   of the line is ignored; the command word is case-insensitive;
/// - words beyond those a command uses are ignored, except in `send`, where everything
///   after `TO` is the message;
/// - for `send`, the first word is a token only if it has the UUID shape.
///
/// The parser only checks the line's shape. Whether a token is live, a recipient exists
/// or a message is empty is for the service to judge, in the order PROTOCOL.md gives.
public enum RequestParser {
    /// Parses a line without its terminator, validating its UTF-8 first.
    ///
    /// - Returns: nil for a line that is empty after trimming (it gets no reply),
    ///   otherwise the request or the refusal to send back.
    public static func parse(line: ByteBuffer) -> Result<Request, Refusal>? {
        line.withUnsafeReadableBytes(parse(line:))
    }

    /// Parses a line's bytes without its terminator, validating their UTF-8 first.
    public static func parse(line: UnsafeRawBufferPointer) -> Result<Request, Refusal>? {
        line.withMemoryRebound(to: UInt8.self) { bytes in
            guard isValidUTF8(bytes) else { return .failure(.invalidEncoding) }
            return parse(bytes: bytes)
        }
    }

    /// Parses a line that is already text.
    public static func parse(line: String) -> Result<Request, Refusal>? {
        var line = line
        return line.withUTF8 { parse(bytes: $0) }
    }

    /// Parses a line's bytes, which are valid UTF-8, in place: only the words a request
    /// keeps become strings.
    private static func parse(bytes: UnsafeBufferPointer<UInt8>) -> Result<Request, Refusal>? {
        var words = WordScanner(bytes)
        guard let word = words.nextWord() else { return nil }
        guard let command = CommandWord(word), let request = parse(command: command, arguments: &words) else {
            return .failure(.malformedRequest)
        }
        return .success(request)
    }

    /// Whether `bytes` are valid UTF-8. A line of ASCII, the usual kind, is settled by one
    /// pass over its bytes; any other goes through the standard library's validation.
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var highBits: UInt8 = 0
        for byte in bytes { highBits |= byte }
        guard highBits >= 0x80 else { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    // MARK: - Commands

    private static func parse(command: CommandWord, arguments words: inout WordScanner) -> Request? {
        switch command {
        case .auth:
            guard let username = words.nextWord(), let password = words.nextWord() else { return nil }
            return .auth(username: username.lowercasedText, password: password.text)
        case .send:
            return parseSend(&words)
        case .inbox:
            return .inbox(session: sessionReference(words.nextWord()))
        case .show:
            return .show(session: sessionReference(words.nextWord()))
        case .logout:
            return .logout(session: sessionReference(words.nextWord()))
        case .register:
            guard let username = words.nextWord(),
                let password = words.nextWord(),
                let name = words.nextQuotableWord(),
                let country = words.nextQuotableWord()
            else { return nil }
            return .register(
                username: username.lowercasedText,
                password: password.text,
                name: name.text,
                country: country.text
            )
        case .ping:
            return .ping
        case .subscribe:
            let (session, option) = optionalToken(&words)
            return .subscribe(session: session, presence: option?.lowercasedText == "presence")
        case .unsubscribe:
            return .unsubscribe(session: optionalToken(&words).session)
        case .ack:
            let (session, ids) = optionalToken(&words)
            guard let ids else { return nil }
            return .ack(session: session, ids: ids.text)
        case .history:
            let (session, peer) = optionalToken(&words)
            guard let peer else { return nil }
            let limit = words.nextWord()?.text
            return .history(session: session, with: peer.lowercasedText, limit: limit, beforeID: words.nextWord()?.text)
        case .conversations:
            return .conversations(session: optionalToken(&words).session)
        }
    }

    private static func parseSend(_ words: inout WordScanner) -> Request? {
        guard let first = words.nextWord() else { return nil }
        let session: SessionReference
        let recipientList: WordScanner.Word
        if let token = SessionToken(utf8: first) {
            guard let to = words.nextWord() else { return nil }
            session = .token(token)
            recipientList = to
        } else {
            session = .bound
            recipientList = first
        }
        let recipients = recipientList.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map {
            $0.lowercasedText
        }
        return .send(session: session, recipients: recipients, text: words.rest().text)
    }

    /// The live-delivery commands' words: a first word of the exact UUID shape is the
    /// token (as in `send`); returns the session and the first word after it.
    private static func optionalToken(_ words: inout WordScanner) -> (session: SessionReference, next: WordScanner.Word?) {
        guard let first = words.nextWord() else { return (.bound, nil) }
        guard let token = SessionToken(utf8: first) else { return (.bound, first) }
        return (.token(token), words.nextWord())
    }

    /// `inbox`, `show` and `logout`: any first word is the token.
    private static func sessionReference(_ word: WordScanner.Word?) -> SessionReference {
        guard let word else { return .bound }
        return SessionToken(utf8: word).map { .token($0) } ?? .malformedToken(word.text)
    }
}
