extension Block {
    /// A block from Datalog text: facts, rules and checks (`Check`s), each ending with `;`.
    /// - Parameters:
    ///   - code: the text.
    ///   - parameters: values for the `{name}` terms it holds.
    ///   - scopeParameters: keys for the `trusting {name}` scopes it holds.
    /// - Throws: `.language` for text that does not parse, an unsafe rule, or a missing parameter.
    public init(code: String, parameters: [String: Term] = [:], scopeParameters: [String: PublicKey] = [:]) throws(BiscuitError) {
        let source = try DatalogParser.parseBlock(code).applying(parameters: parameters, scopeParameters: scopeParameters)
        self.init(facts: source.facts, rules: source.rules, checks: source.checks)
    }

    /// The block's Datalog as the reference prints it: facts, rules, then checks, each followed
    /// by `;` and a new line.
    public var source: String {
        DatalogPrinter.block(facts: facts, rules: rules, checks: checks)
    }
}

extension AuthorizerBuilder {
    /// Adds Datalog text: facts, rules, checks and policies.
    /// - Throws: `.language` for text that does not parse, an unsafe rule, or a missing parameter.
    public mutating func add(code: String, parameters: [String: Term] = [:], scopeParameters: [String: PublicKey] = [:]) throws(BiscuitError) {
        let source = try DatalogParser.parseAuthorizer(code).applying(parameters: parameters, scopeParameters: scopeParameters)
        facts += source.facts
        rules += source.rules
        checks += source.checks
        policies += source.policies
    }

    /// The authorizer's Datalog as the reference prints it.
    public var source: String {
        DatalogPrinter.authorizer(facts: facts, rules: rules, checks: checks, policies: policies)
    }
}
