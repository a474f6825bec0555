/// `Block`: one block's Datalog, with the symbols and public keys it adds to the tables.
///
/// Field numbers: 1 `symbols` (repeated string), 2 `context` (optional string), 3 `version`
/// (optional uint32), 4 `facts`, 5 `rules`, 6 `checks`, 7 `scope`, 8 `publicKeys` (all repeated).
struct BlockMessage: Hashable, Sendable {
    /// The symbols this block adds to the symbol table it sees, in order.
    var symbols: [String]
    /// Free text.
    var context: String?
    /// The Datalog version (3 to 6); the reference always writes it.
    var version: UInt32?
    /// The block's facts.
    var facts: [FactMessage]
    /// The block's rules.
    var rules: [RuleMessage]
    /// The block's checks.
    var checks: [CheckMessage]
    /// The block-level trust annotations (schema field `scope`).
    var scopes: [ScopeMessage]
    /// The public keys this block adds to the key table it sees, in order.
    var publicKeys: [PublicKeyMessage]
}

extension BlockMessage: ProtoMessage {
    /// Decodes a `Block`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Block")
        self.init(symbols: [], context: nil, version: nil, facts: [], rules: [], checks: [], scopes: [], publicKeys: [])
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: symbols.append(try reader.readString(tag, field: "symbols"))
            case 2: context = try reader.readString(tag, field: "context")
            case 3: version = try reader.readUInt32(tag, field: "version")
            case 4: facts.append(try reader.readElement(tag, field: "facts", as: FactMessage.self, depth: depth))
            case 5: rules.append(try reader.readElement(tag, field: "rules", as: RuleMessage.self, depth: depth))
            case 6: checks.append(try reader.readElement(tag, field: "checks", as: CheckMessage.self, depth: depth))
            case 7: scopes.append(try reader.readElement(tag, field: "scope", as: ScopeMessage.self, depth: depth))
            case 8:
                publicKeys.append(try reader.readElement(tag, field: "publicKeys", as: PublicKeyMessage.self, depth: depth))
            default: try reader.skipField(tag)
            }
        }
    }

    /// Writes a `Block`'s fields.
    func encode(to writer: inout ProtoWriter) {
        for symbol in symbols { writer.writeString(symbol, field: 1) }
        if let context { writer.writeString(context, field: 2) }
        if let version { writer.writeUInt32(version, field: 3) }
        for fact in facts { writer.writeMessage(fact, field: 4) }
        for rule in rules { writer.writeMessage(rule, field: 5) }
        for check in checks { writer.writeMessage(check, field: 6) }
        for scope in scopes { writer.writeMessage(scope, field: 7) }
        for key in publicKeys { writer.writeMessage(key, field: 8) }
    }
}

/// `Scope`: whose facts a rule, check or block trusts.
///
/// A oneof `Content`: 1 `scopeType` (enum), 2 `publicKey` (int64). One must be present.
enum ScopeMessage: Hashable, Sendable {
    /// The raw `ScopeType` enum value: 0 is `authority`, 1 is `previous`; others are kept for the
    /// token layer to refuse.
    case scopeType(Int32)
    /// An index into the public-key table the block sees.
    case publicKey(Int64)
}

extension ScopeMessage: ProtoMessage {
    /// Decodes a `Scope`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Scope")
        var content: ScopeMessage?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: content = .scopeType(try reader.readInt32(tag, field: "scopeType"))
            case 2: content = .publicKey(try reader.readInt64(tag, field: "publicKey"))
            default: try reader.skipField(tag)
            }
        }
        self = try requireField(content, message: "Scope", field: "content")
    }

    /// Writes a `Scope`'s field.
    func encode(to writer: inout ProtoWriter) {
        switch self {
        case .scopeType(let type): writer.writeInt32(type, field: 1)
        case .publicKey(let index): writer.writeInt64(index, field: 2)
        }
    }
}

/// `Fact` (formerly `FactV2`): a predicate without variables.
///
/// Field numbers: 1 `predicate` (required).
struct FactMessage: Hashable, Sendable {
    /// The fact's predicate.
    var predicate: PredicateMessage
}

extension FactMessage: ProtoMessage {
    /// Decodes a `Fact`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Fact")
        var predicate: ArraySlice<UInt8>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try reader.mergeMessage(tag, field: "predicate", into: &predicate)
            default: try reader.skipField(tag)
            }
        }
        self.init(predicate: try .decodeRequired(predicate, message: "Fact", field: "predicate", depth: depth))
    }

    /// Writes a `Fact`'s field.
    func encode(to writer: inout ProtoWriter) {
        writer.writeMessage(predicate, field: 1)
    }
}

/// `Rule` (formerly `RuleV2`): a head derived from a body, under expressions and scopes; also the
/// queries of checks and policies (whose head is named `query`, symbol 27, with no terms).
///
/// Field numbers: 1 `head` (required), 2 `body`, 3 `expressions`, 4 `scope` (all repeated).
struct RuleMessage: Hashable, Sendable {
    /// The predicate the rule produces.
    var head: PredicateMessage
    /// The predicates to match.
    var body: [PredicateMessage]
    /// The expressions that must all evaluate to true.
    var expressions: [ExpressionMessage]
    /// The rule-level trust annotations (schema field `scope`).
    var scopes: [ScopeMessage]
}

extension RuleMessage: ProtoMessage {
    /// Decodes a `Rule`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Rule")
        var head: ArraySlice<UInt8>?
        var body: [PredicateMessage] = []
        var expressions: [ExpressionMessage] = []
        var scopes: [ScopeMessage] = []
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try reader.mergeMessage(tag, field: "head", into: &head)
            case 2: body.append(try reader.readElement(tag, field: "body", as: PredicateMessage.self, depth: depth))
            case 3:
                expressions.append(try reader.readElement(tag, field: "expressions", as: ExpressionMessage.self, depth: depth))
            case 4: scopes.append(try reader.readElement(tag, field: "scope", as: ScopeMessage.self, depth: depth))
            default: try reader.skipField(tag)
            }
        }
        self.init(
            head: try .decodeRequired(head, message: "Rule", field: "head", depth: depth),
            body: body, expressions: expressions, scopes: scopes)
    }

    /// Writes a `Rule`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeMessage(head, field: 1)
        for predicate in body { writer.writeMessage(predicate, field: 2) }
        for expression in expressions { writer.writeMessage(expression, field: 3) }
        for scope in scopes { writer.writeMessage(scope, field: 4) }
    }
}

/// `Check` (formerly `CheckV2`): queries joined by "or", and how they must match.
///
/// Field numbers: 1 `queries` (repeated), 2 `kind` (optional enum).
struct CheckMessage: Hashable, Sendable {
    /// The alternative queries.
    var queries: [RuleMessage]
    /// The raw `Kind` enum value: absent or 0 is `check if` (One), 1 `check all`, 2 `reject if`.
    /// The reference leaves it absent for One (`nil` here); it is written exactly as held.
    var kind: Int32?
}

extension CheckMessage: ProtoMessage {
    /// Decodes a `Check`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Check")
        var queries: [RuleMessage] = []
        var kind: Int32?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: queries.append(try reader.readElement(tag, field: "queries", as: RuleMessage.self, depth: depth))
            case 2: kind = try reader.readInt32(tag, field: "kind")
            default: try reader.skipField(tag)
            }
        }
        self.init(queries: queries, kind: kind)
    }

    /// Writes a `Check`'s fields.
    func encode(to writer: inout ProtoWriter) {
        for query in queries { writer.writeMessage(query, field: 1) }
        if let kind { writer.writeInt32(kind, field: 2) }
    }
}

/// `Predicate` (formerly `PredicateV2`): a name and terms.
///
/// Field numbers: 1 `name` (required uint64), 2 `terms` (repeated).
struct PredicateMessage: Hashable, Sendable {
    /// The predicate's name, as a symbol index.
    var name: UInt64
    /// The predicate's terms.
    var terms: [TermMessage]
}

extension PredicateMessage: ProtoMessage {
    /// Decodes a `Predicate`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Predicate")
        var name: UInt64?
        var terms: [TermMessage] = []
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: name = try reader.readUInt64(tag, field: "name")
            case 2: terms.append(try reader.readElement(tag, field: "terms", as: TermMessage.self, depth: depth))
            default: try reader.skipField(tag)
            }
        }
        self.init(name: try requireField(name, message: "Predicate", field: "name"), terms: terms)
    }

    /// Writes a `Predicate`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeUInt64(name, field: 1)
        for term in terms { writer.writeMessage(term, field: 2) }
    }
}

/// `Policy`: an authorizer's `allow if` or `deny if` (used by authorizer snapshots).
///
/// Field numbers: 1 `queries` (repeated), 2 `kind` (required enum).
struct PolicyMessage: Hashable, Sendable {
    /// The alternative queries.
    var queries: [RuleMessage]
    /// The raw `Kind` enum value: 0 is `allow`, 1 is `deny`.
    var kind: Int32
}

extension PolicyMessage: ProtoMessage {
    /// Decodes a `Policy`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Policy")
        var queries: [RuleMessage] = []
        var kind: Int32?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: queries.append(try reader.readElement(tag, field: "queries", as: RuleMessage.self, depth: depth))
            case 2: kind = try reader.readInt32(tag, field: "kind")
            default: try reader.skipField(tag)
            }
        }
        self.init(queries: queries, kind: try requireField(kind, message: "Policy", field: "kind"))
    }

    /// Writes a `Policy`'s fields.
    func encode(to writer: inout ProtoWriter) {
        for query in queries { writer.writeMessage(query, field: 1) }
        writer.writeInt32(kind, field: 2)
    }
}
