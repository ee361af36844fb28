import ArgumentParser

// MARK: - kabar-server

@main
struct KabarServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kabar-server",
        abstract: "The Kabar chat server.",
        discussion: "Every option can also be set with an environment variable KABAR_<OPTION>, e.g. KABAR_PORT=9000.",
        subcommands: [ServeCommand.self, UserCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
