public import ArgumentParser

/// The client's commands, in the order `rampart --help` lists them: the binary's root command
/// adds them after `server`. The command types stay internal to this module; the binary needs
/// only their metatypes.
public enum ClientCommands {
    /// Every client command.
    public static let all: [any ParsableCommand.Type] = [
        BootstrapCommand.self, ClusterCommand.self, OrganizationsCommand.self, ProjectsCommand.self, PrincipalsCommand.self,
        RolesCommand.self, BindingsCommand.self, AuthorizeCommand.self, KeysCommand.self, TokensCommand.self, RevocationsCommand.self, AuditCommand.self, WatchCommand.self, BiscuitCommand.self, CertsCommand.self,
    ]
}
