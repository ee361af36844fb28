// MARK: - CommandWord

/// The command word of a request line, matched on the line's bytes: the command names no
/// string of its own, so a `ping` or a `send` makes none for it.
///
/// PROTOCOL.md, "Framing": the command word is case-insensitive, as the original server's
/// `command.lower()` made it. ASCII letters fold byte by byte; a word with any other
/// character folds as `String.lowercased()` does (the Kelvin sign's lower case is "k", so
/// `AC\u{212A}` is `ack` to both servers).
enum CommandWord: CaseIterable {
    // The most frequent first: they are tried in this order.
    case send, ping, inbox, auth, show, logout, register, subscribe, unsubscribe, ack, history, conversations

    init?(_ word: WordScanner.Word) {
        let match: CommandWord?
        if word.allSatisfy({ $0 < 0x80 }) {
            match = Self.allCases.first { $0.isSpelled(ignoringCase: word) }
        } else {
            var folded = word.lowercasedText
            match = folded.withUTF8 { folded in Self.allCases.first { $0.isSpelled(ignoringCase: folded[...]) } }
        }
        guard let match else { return nil }
        self = match
    }

    /// Whether `word` is this command's name in any mix of ASCII cases.
    private func isSpelled(ignoringCase word: WordScanner.Word) -> Bool {
        let name = self.name
        guard name.utf8CodeUnitCount == word.count else { return false }
        let letters = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        // The names are lower-case ASCII letters: setting a byte's 0x20 bit turns an
        // upper-case letter into its lower case, and no other byte into a letter.
        return zip(letters, word).allSatisfy { letter, byte in byte | 0x20 == letter }
    }

    private var name: StaticString {
        switch self {
        case .send: "send"
        case .ping: "ping"
        case .inbox: "inbox"
        case .auth: "auth"
        case .show: "show"
        case .logout: "logout"
        case .register: "register"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .ack: "ack"
        case .history: "history"
        case .conversations: "conversations"
        }
    }
}
