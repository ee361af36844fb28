import KabarProtocol
import NIOCore

// MARK: - InteractiveSession

/// The logic of `kabar-cli`: one typed line in, the text the original client printed out.
///
/// PROTOCOL.md, "What the client prints":
///
///     auth messi surabaya            -> username messi logged in, token 8cab384c-…
///     send henderson hello …         -> message sent to henderson
///     inbox                          -> {"messi": [{"msg_from": "Lionel Messi", …}]}
///     show                           -> Daftar User Online + table
///     logout                         -> Logout berhasil dilakukan dengan session id :
///                                       "c8b80d3d-…"
///
/// `send`, `inbox`, `show` and `logout` without a session print `Error, not authorized`
/// without asking the server; other refusals print as `Error, MESSAGE`. The connection
/// is opened lazily and reopened after a failure, keeping the session token.
public final class InteractiveSession {
    /// What the executable should do after a line.
    public enum Outcome: Equatable, Sendable {
        /// Print this text (one or more lines) and read on.
        case print(String)
        /// Nothing to print (an empty line).
        case silent
        /// Leave.
        case quit
    }

    public let host: String
    public let port: Int
    private let connector: @Sendable (String, Int) async throws -> KabarConnection
    private var connection: KabarConnection?
    /// The session of this client, as the original client's `tokenid`.
    public private(set) var token: SessionToken?
    /// Where incoming messages go, one line each, when the session subscribes.
    private let onLiveLine: (@Sendable (String) -> Void)?
    private var liveTask: Task<Void, Never>?

    /// - Parameters:
    ///   - tls: encrypt the connection, trusting as it says.
    ///   - onLiveLine: when given, the client subscribes after each successful `auth` and
    ///     hands every incoming message here as a line (``LiveLine``), from another task.
    public init(host: String, port: Int, tls: ClientTLS? = nil, onLiveLine: (@Sendable (String) -> Void)? = nil) {
        self.host = host
        self.port = port
        self.connector = { host, port in try await KabarConnection.connect(host: host, port: port, tls: tls) }
        self.onLiveLine = onLiveLine
    }

    /// The prompt of the original client: `Command TOKEN:` or `Command :`.
    public var prompt: String { "Command \(token?.text ?? ""):" }

    /// Handles one typed line.
    public func handle(_ line: String) async -> Outcome {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let command = words.first?.lowercased() else { return .silent }
        switch command {
        case "quit", "exit":
            return .quit
        case "help":
            return .print(Self.help)
        case "send", "inbox", "show", "logout", "history", "conversations":
            guard let token else { return .print("Error, not authorized") }
            return await handleSessionCommand(command, line: line, words: words, token: token)
        default:
            return await handleOther(line, words: words)
        }
    }

    /// Closes the connection, if one is open.
    public func close() async {
        stopLive()
        try? await connection?.close()
        connection = nil
    }

    // MARK: - Commands

    private func handleSessionCommand(_ command: String, line: String, words: [Substring], token: SessionToken) async
        -> Outcome
    {
        let reference = SessionReference.token(token)
        switch command {
        case "send":
            guard case .success(.send(_, let recipients, let text))? = RequestParser.parse(line: line) else {
                return .print("Error, \(Refusal.malformedRequest.wireText)")
            }
            let typedRecipient = String(words[1])
            return await execute(.send(session: reference, recipients: recipients, text: text)) { _ in
                "message sent to \(typedRecipient)"
            }
        case "inbox":
            return await execute(.inbox(session: reference)) { reply in
                guard case .inbox(let groups) = reply else { return "" }
                var buffer = ByteBuffer()
                ReplyEncoder.writeInbox(groups, into: &buffer)
                return String(buffer: buffer)
            }
        case "show":
            return await execute(.show(session: reference)) { reply in
                guard case .onlineUsers(let users) = reply else { return "" }
                return "Daftar User Online\n" + OnlineUsersTable.render(users)
            }
        case "history":
            guard words.count >= 2 else { return .print("Error, \(Refusal.malformedRequest.wireText)") }
            let limit = words.count >= 3 ? String(words[2]) : nil
            return await execute(.history(session: reference, with: words[1].lowercased(), limit: limit, beforeID: nil)) { reply in
                guard case .history(_, let entries) = reply else { return "" }
                return entries.isEmpty ? "(no messages)" : entries.map { LiveLine.render($0.message) }.joined(separator: "\n")
            }
        case "conversations":
            return await execute(.conversations(session: reference)) { reply in
                guard case .conversations(let summaries) = reply else { return "" }
                guard !summaries.isEmpty else { return "(no conversations)" }
                return summaries.map { summary in
                    "\(summary.peer.username) (\(summary.peer.name)): \(summary.unread) unread, last \(LiveLine.render(summary.last))"
                }.joined(separator: "\n")
            }
        default:  // logout
            // As in the original client, the session is forgotten before the server answers.
            self.token = nil
            stopLive()
            return await execute(.logout(session: reference)) { reply in
                guard case .loggedOut(let ended) = reply else { return "" }
                var quoted = ByteBuffer()
                JSONStringWriter.write(ended.text, into: &quoted)
                return "Logout berhasil dilakukan dengan session id :\n" + String(buffer: quoted)
            }
        }
    }

    private func handleOther(_ line: String, words: [Substring]) async -> Outcome {
        switch RequestParser.parse(line: line) {
        case nil:
            return .silent
        case .failure(let refusal)?:
            return .print("Error, \(refusal.wireText)")
        case .success(let request)?:
            let outcome = await execute(request) { reply in
                switch reply {
                case .loggedIn(let token):
                    self.token = token
                    self.stopLive()
                    return "username \(words[1]) logged in, token \(token.text) "
                case .registered: return "User Registered"
                case .pong: return "PONG"
                default: return ""
                }
            }
            if case .auth = request, token != nil, onLiveLine != nil { await startLive() }
            return outcome
        }
    }

    // MARK: - Live messages

    /// Subscribes the session and hands each incoming message to ``onLiveLine``.
    private func startLive() async {
        guard let onLiveLine, let token, let connection = try? await currentConnection() else { return }
        guard case .success(.subscribed)? = try? await connection.execute(.subscribe(session: .token(token), presence: false))
        else { return }
        liveTask = Task {
            for await event in connection.events {
                if case .message(let message) = event { onLiveLine(LiveLine.render(message)) }
            }
        }
    }

    private func stopLive() {
        liveTask?.cancel()
        liveTask = nil
    }

    // MARK: - Talking to the server

    private func execute(_ request: Request, describe: (Reply) -> String) async -> Outcome {
        do {
            let connection = try await currentConnection()
            switch try await connection.execute(request) {
            case .success(let reply): return .print(describe(reply))
            case .failure(let refusal): return .print("Error, \(refusal.message)")
            }
        } catch {
            await close()
            return .print("Error, no connection to the server at \(host):\(port) (\(Self.describe(error)))")
        }
    }

    private func currentConnection() async throws -> KabarConnection {
        if let connection, connection.isActive { return connection }
        let fresh = try await connector(host, port)
        connection = fresh
        return fresh
    }

    private static func describe(_ error: any Error) -> String {
        if let clientError = error as? KabarClientError { return clientError.code.description }
        return "\(error)"
    }

    static let help = """
        Commands:
          auth USERNAME PASSWORD                log in
          send USERNAME[,USERNAME...] MESSAGE   send a message to one or many users
          inbox                                 read your unread messages
          show                                  list the users online
          logout                                end your session
          history USERNAME [N]                  the last N (50) messages with USERNAME
          conversations                         the people you have talked with, unread counts
          register USERNAME PASSWORD "NAME" COUNTRY   create an account
          ping                                  check the server
          help                                  this list
          quit                                  leave
        """
}
