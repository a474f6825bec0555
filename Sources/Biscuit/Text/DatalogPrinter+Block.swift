extension DatalogPrinter {
    /// A token block's source as the reference prints it (REF `Block::print_source`, the
    /// samples' `code`): its facts, rules and checks, each followed by `;\n`. The block's own
    /// `trusting` scopes are not printed, as in the reference.
    static func block(_ block: Block) -> String {
        printBlock(facts: block.facts, rules: block.rules, checks: block.checks)
    }
}
