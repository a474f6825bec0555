import ArgumentParser
import RampartClient

/// `rampart`: the replica server and the client's commands, in one binary.
@main
struct RampartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rampart", abstract: "Rampart: a replicated IAM policy store.",
        subcommands: [ServerCommand.self] + ClientCommands.all)
}
