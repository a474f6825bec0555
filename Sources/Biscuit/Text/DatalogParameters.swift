extension DatalogSource {
    /// The source with its `{name}` parameters replaced: in terms (at any depth), in map keys,
    /// and in `trusting {name}` scopes. As the reference's `code_with_params` does, parameters
    /// given and not used are ignored, and parameters used and not given are an error.
    ///
    /// - Parameters:
    ///   - parameters: the terms of `{name}` in terms and map keys (a map key's must be an
    ///     integer or a string).
    ///   - scopeParameters: the keys of `{name}` in `trusting` scopes.
    /// - Returns: the source with every parameter replaced; sets and maps normalized again.
    /// - Throws: `BiscuitError.language(.parameters(missing:unused:))` naming every parameter
    ///   used and not given (in the order they first appear; `unused` is always empty);
    ///   `.language(.variableInFact)` when a given term puts a variable in a fact;
    ///   `.conversion` when a map key's parameter is given something other than an integer or
    ///   a string (the reference panics there).
    func applying(parameters: [String: Term], scopeParameters: [String: PublicKey]) throws(BiscuitError) -> DatalogSource {
        var missing: [String] = []
        func need(_ name: String, in given: Set<String>) {
            if !given.contains(name) && !missing.contains(name) { missing.append(name) }
        }
        let termNames = Set(parameters.keys)
        let scopeNames = Set(scopeParameters.keys)
        var used = ParameterNames()
        for fact in facts { used.collect(fact.predicate) }
        for rule in rules { used.collect(rule) }
        for check in checks { for query in check.queries { used.collect(query) } }
        for policy in policies { for query in policy.queries { used.collect(query) } }
        for name in used.terms { need(name, in: termNames) }
        for name in used.scopes { need(name, in: scopeNames) }
        guard missing.isEmpty else { throw .language(.parameters(missing: missing, unused: [])) }

        let substitution = ParameterSubstitution(terms: parameters, scopes: scopeParameters)
        var result = DatalogSource()
        for fact in facts {
            let replaced = Fact(try substitution.apply(to: fact.predicate))
            guard !replaced.predicate.terms.contains(where: \.containsVariable) else {
                throw .language(.variableInFact(replaced.description))
            }
            result.facts.append(replaced)
        }
        for rule in rules { result.rules.append(try substitution.apply(to: rule)) }
        for check in checks {
            var queries: [Rule] = []
            for query in check.queries { queries.append(try substitution.apply(to: query)) }
            result.checks.append(Check(kind: check.kind, queries: queries))
        }
        for policy in policies {
            var queries: [Rule] = []
            for query in policy.queries { queries.append(try substitution.apply(to: query)) }
            result.policies.append(Policy(kind: policy.kind, queries: queries))
        }
        return result
    }
}

/// The names of the parameters statements use, in the order they first appear.
private struct ParameterNames {
    /// The names of `{name}` in terms and map keys.
    var terms: [String] = []
    /// The names of `trusting {name}` scopes.
    var scopes: [String] = []

    /// Adds the parameters of a rule (head, body, expressions, scopes).
    mutating func collect(_ rule: Rule) {
        collect(rule.head)
        for predicate in rule.body { collect(predicate) }
        for expression in rule.expressions { collect(expression.ops) }
        for scope in rule.scopes {
            if case .parameter(let name) = scope, !scopes.contains(name) { scopes.append(name) }
        }
    }

    /// Adds the parameters of a predicate's terms.
    mutating func collect(_ predicate: Predicate) {
        for term in predicate.terms { collect(term) }
    }

    /// Adds the parameters of an expression, closures included.
    private mutating func collect(_ ops: [Op]) {
        for op in ops {
            switch op {
            case .value(let term): collect(term)
            case .closure(_, let body): collect(body)
            case .unary, .binary: break
            }
        }
    }

    /// Adds the parameters of a term, at any depth, map keys included.
    private mutating func collect(_ term: Term) {
        switch term {
        case .parameter(let name):
            if !terms.contains(name) { terms.append(name) }
        case .setValue(let elements), .array(let elements):
            for element in elements { collect(element) }
        case .mapValue(let entries):
            for entry in entries {
                if case .parameter(let name) = entry.key, !terms.contains(name) { terms.append(name) }
                collect(entry.value)
            }
        case .variable, .integer, .string, .date, .bytes, .bool, .null:
            break
        }
    }
}

/// Replaces parameters by the values given; every parameter met must have one (checked before).
private struct ParameterSubstitution {
    /// The values of `{name}` terms and map keys.
    let terms: [String: Term]
    /// The keys of `trusting {name}` scopes.
    let scopes: [String: PublicKey]

    /// The rule with its parameters and scope parameters replaced.
    func apply(to rule: Rule) throws(BiscuitError) -> Rule {
        var body: [Predicate] = []
        for predicate in rule.body { body.append(try apply(to: predicate)) }
        var expressions: [Expression] = []
        for expression in rule.expressions { expressions.append(Expression(try apply(to: expression.ops))) }
        let scopes = rule.scopes.map { scope -> Scope in
            if case .parameter(let name) = scope, let key = self.scopes[name] { return .publicKey(key) }
            return scope
        }
        return Rule(head: try apply(to: rule.head), body: body, expressions: expressions, scopes: scopes)
    }

    /// The predicate with its parameters replaced.
    func apply(to predicate: Predicate) throws(BiscuitError) -> Predicate {
        var replaced: [Term] = []
        for term in predicate.terms { replaced.append(try apply(to: term)) }
        return Predicate(predicate.name, replaced)
    }

    /// The operations with their parameters replaced, closures included.
    private func apply(to ops: [Op]) throws(BiscuitError) -> [Op] {
        var replaced: [Op] = []
        for op in ops {
            switch op {
            case .value(let term): replaced.append(.value(try apply(to: term)))
            case .closure(let parameters, let body): replaced.append(.closure(parameters: parameters, body: try apply(to: body)))
            case .unary, .binary: replaced.append(op)
            }
        }
        return replaced
    }

    /// The term with its parameters replaced; sets and maps normalized again.
    private func apply(to term: Term) throws(BiscuitError) -> Term {
        switch term {
        case .parameter(let name):
            return terms[name] ?? term
        case .setValue(let elements):
            var replaced: [Term] = []
            for element in elements { replaced.append(try apply(to: element)) }
            return .set(replaced)
        case .array(let elements):
            var replaced: [Term] = []
            for element in elements { replaced.append(try apply(to: element)) }
            return .array(replaced)
        case .mapValue(let entries):
            var replaced: [MapEntry] = []
            for entry in entries { replaced.append(MapEntry(key: try apply(to: entry.key), value: try apply(to: entry.value))) }
            return .map(replaced)
        case .variable, .integer, .string, .date, .bytes, .bool, .null:
            return term
        }
    }

    /// A map key with its parameter replaced by an integer or a string.
    private func apply(to key: MapKey) throws(BiscuitError) -> MapKey {
        guard case .parameter(let name) = key, let value = terms[name] else { return key }
        switch value {
        case .integer(let integer): return .integer(integer)
        case .string(let string): return .string(string)
        default: throw .conversion("the parameter {\(name)} is a map key: it must be given an integer or a string, not \(value)")
        }
    }
}
