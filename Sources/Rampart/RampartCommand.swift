import ArgumentParser

/// `rampart`: the replica server and the admin commands, in one binary.
@main
struct RampartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rampart", abstract: "Rampart: a replicated IAM policy store.",
        subcommands: [
            ServerCommand.self, BootstrapCommand.self, ClusterCommand.self, OrganizationsCommand.self, ProjectsCommand.self,
            PrincipalsCommand.self, RolesCommand.self, BindingsCommand.self, AuthorizeCommand.self, KeysCommand.self, AuditCommand.self,
            BiscuitCommand.self,
        ])
}
