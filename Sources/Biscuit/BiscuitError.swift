/// Everything that can go wrong with a token, as the reference implementation names it, so that
/// the two can be compared case by case (`name` gives the reference's path of names, such as
/// `Format.Signature.InvalidSignature`).
public enum BiscuitError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The token could not be decoded or verified.
    case format(FormatError)
    /// The token is sealed: no block can be appended.
    case alreadySealed
    /// The token is sealed: no third-party block can be requested.
    case appendOnSealed
    /// Authorization failed: a check, a deny policy, no policy, or an unsafe rule.
    case failedLogic(LogicError)
    /// Datalog text or parameters that are not valid.
    case language(LanguageError)
    /// Authorization stopped at a limit.
    case runLimit(RunLimitError)
    /// An expression could not be evaluated.
    case execution(ExecutionError)
    /// The text is not URL-safe base64.
    case base64(String)
    /// A value cannot be converted (a date before 1970, say).
    case conversion(String)

    /// The reference implementation's path of names for this error.
    public var name: String {
        switch self {
        case .format(let error): return "Format." + error.name
        case .alreadySealed: return "AlreadySealed"
        case .appendOnSealed: return "AppendOnSealed"
        case .failedLogic(let error): return "FailedLogic." + error.name
        case .language: return "Language"
        case .runLimit(let error): return "RunLimit." + error.name
        case .execution(let error): return "Execution." + error.name
        case .base64: return "Base64"
        case .conversion: return "ConversionError"
        }
    }

    public var description: String {
        switch self {
        case .format(let error): return "error deserializing or verifying the token: \(error)"
        case .alreadySealed: return "the token is sealed: no block can be appended"
        case .appendOnSealed: return "the token is sealed: no third-party block can be requested"
        case .failedLogic(let error): return "authorization failed: \(error)"
        case .language(let error): return "invalid Datalog: \(error)"
        case .runLimit(let error): return "authorization stopped: \(error)"
        case .execution(let error): return "Datalog execution failure: \(error)"
        case .base64(let reason): return "cannot decode base64 token: \(reason)"
        case .conversion(let reason): return "cannot convert: \(reason)"
        }
    }
}

/// Why a token could not be decoded or verified.
public enum FormatError: Hashable, Sendable, CustomStringConvertible {
    /// A signature is wrong (the token was altered, or signed by another key).
    case invalidSignature(String)
    /// A signature's bytes are not a signature of the key's algorithm.
    case blockSignatureDeserialization(String)
    /// The token's protobuf envelope, or a block's, cannot be decoded.
    case deserialization(String)
    /// A key's bytes are not a key of its algorithm.
    case invalidKey(String)
    /// A block's datalog version is outside what this library reads.
    case version(minimum: UInt32, maximum: UInt32, actual: UInt32)
    /// A block declares a symbol the tables already hold.
    case symbolTableOverlap
    /// A block declares a public key the tables already hold.
    case publicKeyTableOverlap
    /// An index names no symbol.
    case unknownSymbol(UInt64)
    /// An index names no public key.
    case unknownPublicKey
    /// The root key provider knows no key for the token's root key id.
    case unknownRootKey(UInt32?)
    /// A sealed token's final signature is wrong.
    case sealedSignature
    /// The token is larger than the limit.
    case tooLarge(limit: Int)

    /// The reference implementation's name.
    public var name: String {
        switch self {
        case .invalidSignature: return "Signature.InvalidSignature"
        case .blockSignatureDeserialization: return "BlockSignatureDeserializationError"
        case .deserialization: return "DeserializationError"
        case .invalidKey: return "InvalidKey"
        case .version: return "Version"
        case .symbolTableOverlap: return "SymbolTableOverlap"
        case .publicKeyTableOverlap: return "PublicKeyTableOverlap"
        case .unknownSymbol: return "UnknownSymbol"
        case .unknownPublicKey: return "UnknownPublicKey"
        case .unknownRootKey: return "UnknownPublicKey"
        case .sealedSignature: return "SealedSignature"
        case .tooLarge: return "DeserializationError"
        }
    }

    public var description: String {
        switch self {
        case .invalidSignature(let reason): return "invalid signature: \(reason)"
        case .blockSignatureDeserialization(let reason): return "block signature deserialization error: \(reason)"
        case .deserialization(let reason): return "deserialization error: \(reason)"
        case .invalidKey(let reason): return "invalid key: \(reason)"
        case .version(let minimum, let maximum, let actual): return "block version \(actual) outside \(minimum)...\(maximum)"
        case .symbolTableOverlap: return "a block declares a symbol the token already has"
        case .publicKeyTableOverlap: return "a block declares a public key the token already has"
        case .unknownSymbol(let index): return "unknown symbol \(index)"
        case .unknownPublicKey: return "unknown public key"
        case .unknownRootKey(let id): return "no root key for key id \(id.map(String.init) ?? "none")"
        case .sealedSignature: return "invalid final signature of a sealed token"
        case .tooLarge(let limit): return "the token exceeds \(limit) bytes"
        }
    }
}

/// Why authorization failed.
public enum LogicError: Hashable, Sendable, CustomStringConvertible {
    /// A policy matched, and `checks` failed (with an allow policy, at least one did).
    case unauthorized(policy: MatchedPolicy, checks: [FailedCheck])
    /// No policy matched; `checks` failed.
    case noMatchingPolicy(checks: [FailedCheck])
    /// A block holds a rule whose head or expressions use a variable its body does not bind
    /// (the reference reports block 0 whatever the block).
    case invalidBlockRule(block: UInt32, rule: String)

    /// The reference implementation's name.
    public var name: String {
        switch self {
        case .unauthorized: return "Unauthorized"
        case .noMatchingPolicy: return "NoMatchingPolicy"
        case .invalidBlockRule: return "InvalidBlockRule"
        }
    }

    public var description: String {
        func list(_ checks: [FailedCheck]) -> String { checks.map(\.description).joined(separator: ", ") }
        switch self {
        case .unauthorized(.allow(let index), let checks):
            return "an allow policy matched (policy index: \(index)), and the following checks failed: \(list(checks))"
        case .unauthorized(.deny(let index), let checks):
            return "a deny policy matched (policy index: \(index)), and the following checks failed: \(list(checks))"
        case .noMatchingPolicy(let checks): return "no matching policy was found, and the following checks failed: \(list(checks))"
        case .invalidBlockRule(let block, let rule): return "block \(block) holds a rule whose variables are not all bound: \(rule)"
        }
    }
}

/// The policy that decided.
public enum MatchedPolicy: Hashable, Sendable {
    /// The allow policy at this index.
    case allow(Int)
    /// The deny policy at this index.
    case deny(Int)
}

/// A check that failed: where it is, its index there, and its text.
public enum FailedCheck: Hashable, Sendable, CustomStringConvertible {
    /// A check of a block of the token.
    case block(block: Int, check: Int, rule: String)
    /// A check of the authorizer.
    case authorizer(check: Int, rule: String)

    public var description: String {
        switch self {
        case .block(let block, let check, let rule): return "Check n°\(check) in block n°\(block): \(rule)"
        case .authorizer(let check, let rule): return "Check n°\(check) in authorizer: \(rule)"
        }
    }
}

/// Why Datalog text or parameters are not valid.
public enum LanguageError: Hashable, Sendable, CustomStringConvertible {
    /// The text does not parse: where and why.
    case parse(line: Int, column: Int, reason: String)
    /// Parameters the code uses and none was given for, and given ones it does not use.
    case parameters(missing: [String], unused: [String])
    /// A rule whose head or expressions use variables its body does not bind.
    case unboundVariables(rule: String, variables: [String])
    /// A fact with a variable.
    case variableInFact(String)

    public var description: String {
        switch self {
        case .parse(let line, let column, let reason): return "line \(line), column \(column): \(reason)"
        case .parameters(let missing, let unused):
            let text = "missing parameters: \(missing.joined(separator: ", "))"
            return unused.isEmpty ? text : text + "; unused parameters: \(unused.joined(separator: ", "))"
        case .unboundVariables(let rule, let variables):
            return "the rule contains variables that are not bound by predicates in the rule's body: "
                + variables.map { "$" + $0 }.joined(separator: ", ") + " (\(rule))"
        case .variableInFact(let fact): return "a fact cannot hold a variable: \(fact)"
        }
    }
}

/// Which limit stopped authorization.
public enum RunLimitError: Hashable, Sendable, CustomStringConvertible {
    /// The world holds more facts than allowed.
    case tooManyFacts
    /// The rules needed more iterations than allowed.
    case tooManyIterations
    /// Authorization took longer than allowed.
    case timeout

    /// The reference implementation's name.
    public var name: String {
        switch self {
        case .tooManyFacts: return "TooManyFacts"
        case .tooManyIterations: return "TooManyIterations"
        case .timeout: return "Timeout"
        }
    }

    public var description: String {
        switch self {
        case .tooManyFacts: return "too many facts"
        case .tooManyIterations: return "too many iterations"
        case .timeout: return "the time limit was reached"
        }
    }
}

/// Why an expression could not be evaluated.
public enum ExecutionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A symbol index names no symbol.
    case unknownSymbol(UInt64)
    /// A variable is not bound.
    case unknownVariable(String)
    /// An operation got values of the wrong kinds.
    case invalidType
    /// Integer arithmetic overflowed.
    case overflow
    /// Division by zero (or of the smallest integer by -1).
    case divideByZero
    /// The program left the stack in a bad state.
    case invalidStack
    /// A closure's parameter has the name of a variable already bound.
    case shadowedVariable
    /// An extern function the authorizer does not provide.
    case undefinedExtern(String)
    /// An extern function failed.
    case externEvaluation(name: String, reason: String)

    /// The reference implementation's name.
    public var name: String {
        switch self {
        case .unknownSymbol: return "UnknownSymbol"
        case .unknownVariable: return "UnknownVariable"
        case .invalidType: return "InvalidType"
        case .overflow: return "Overflow"
        case .divideByZero: return "DivideByZero"
        case .invalidStack: return "InvalidStack"
        case .shadowedVariable: return "ShadowedVariable"
        case .undefinedExtern: return "UndefinedExtern"
        case .externEvaluation: return "ExternEvalError"
        }
    }

    public var description: String {
        switch self {
        case .unknownSymbol(let index): return "unknown symbol \(index)"
        case .unknownVariable(let name): return "unknown variable $\(name)"
        case .invalidType: return "invalid type"
        case .overflow: return "integer overflow"
        case .divideByZero: return "division by zero"
        case .invalidStack: return "invalid stack"
        case .shadowedVariable: return "a closure parameter shadows a variable"
        case .undefinedExtern(let name): return "undefined extern function \(name)"
        case .externEvaluation(let name, let reason): return "extern function \(name) failed: \(reason)"
        }
    }
}
