import ArgumentParser
import KabarCore
import KabarProtocol
import KabarSQLite
import Logging

// MARK: - user

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage accounts in the database (safe while the server runs).",
        subcommands: [Add.self, List.self, Passwd.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account.")

        @Argument(help: "The username (folded to lower case).") var username: String
        @Option(help: "Full name, as `show` lists it.") var name: String
        @Option(help: "Country, as `show` lists it.") var country: String
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let username = Username(username) else { throw ValidationError("invalid username: \(username)") }
            guard let profile = Profile(name: name, country: country) else {
                throw ValidationError("name and country must be 1 to 64 characters")
            }
            let password = try PasswordInput.read(fromStandardInput: passwordStdin)
            try await withService(store) { service in
                do {
                    try await service.createUser(username, password: password, profile: profile)
                } catch let refusal as Refusal {
                    throw ValidationError(refusal.wireText)
                }
                print("created \(username)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await withService(store) { service in
                for user in try await service.store.allUsers() {
                    print("\(user.username)\t\(user.profile.name)\t\(user.profile.country)")
                }
            }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a new password; the user's sessions end.")

        @Argument var username: String
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let username = Username(username) else { throw ValidationError("invalid username: \(username)") }
            let password = try PasswordInput.read(fromStandardInput: passwordStdin)
            try await withService(store) { service in
                let changed: Bool
                do {
                    changed = try await service.changePassword(of: username, to: password)
                } catch let refusal as Refusal {
                    throw ValidationError(refusal.wireText)
                }
                guard changed else { throw ValidationError("no such user: \(username)") }
                print("password changed for \(username)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an account, its sessions and its inbox.")

        @Argument var username: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let username = Username(username) else { throw ValidationError("invalid username: \(username)") }
            try await withService(store) { service in
                guard try await service.removeUser(named: username) else {
                    throw ValidationError("no such user: \(username)")
                }
                print("removed \(username)")
            }
        }
    }
}

/// Opens the store around `body`, and closes it afterwards.
private func withService(_ options: StoreOptions, _ body: (ChatService) async throws -> Void) async throws {
    let opened = try await options.open(logger: Logger(label: "kabar-user", factory: { _ in SwiftLogNoOpLogHandler() }))
    do {
        try await body(
            ChatService(
                store: opened.store,
                hasher: ScryptPasswordHasher(pool: BlockingWorkPool(threadCount: 1)),
                coordination: opened.commandCoordination
            )
        )
    } catch {
        await opened.close()
        throw error
    }
    await opened.close()
}
