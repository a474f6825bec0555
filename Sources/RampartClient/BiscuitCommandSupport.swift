import ArgumentParser
import Biscuit
import Foundation

// What the `rampart biscuit` verbs share: output formats, reading tokens, keys, Datalog and
// parameters from files, options or standard input, reporting failures, and a small JSON writer
// whose objects keep their keys in the order written and print absent values as `null`.

// MARK: - Output

/// `--output text|json`: anything else is refused by the parser (exit code 64).
enum BiscuitOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// The output option of every verb.
struct BiscuitOutputOptions: ParsableArguments {
    @Option(help: "text or json (json: one JSON object on standard output, also on failure).")
    var output: BiscuitOutputFormat = .text
}

/// A failure of a verb that is not a usage error: the token, key or Datalog given is not valid,
/// a signature does not verify, authorization refused. Exit code 1.
struct BiscuitFailure: Error, CustomStringConvertible {
    /// The reference's path of names (`Format.Signature.InvalidSignature`), or a name of ours
    /// (`Input`, `NotVerified`).
    let kind: String
    let message: String

    init(kind: String, message: String) {
        self.kind = kind
        self.message = message
    }

    init(_ error: BiscuitError) {
        kind = error.name
        message = error.description
    }

    var description: String { message }

    /// `{"kind": ..., "message": ...}`.
    var json: JSONValue { .object([("kind", .string(kind)), ("message", .string(message))]) }
}

/// Runs a verb's body: a `BiscuitFailure` (or a library error) is reported on standard error
/// (text) or as `{"error": {...}}` on standard output (json) and exits with code 1; usage errors
/// (`ValidationError`) are left to the argument parser, which exits with code 64.
func runBiscuitVerb(_ format: BiscuitOutputFormat, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let failure as BiscuitFailure {
        report(failure, format)
        throw ExitCode.failure
    } catch let error as BiscuitError {
        report(BiscuitFailure(error), format)
        throw ExitCode.failure
    }
}

private func report(_ failure: BiscuitFailure, _ format: BiscuitOutputFormat) {
    switch format {
    case .json: print(JSONValue.object([("error", failure.json)]).serialized(pretty: true))
    case .text: FileHandle.standardError.write(Data("error: \(failure.message) (\(failure.kind))\n".utf8))
    }
}

// MARK: - Inputs

/// Reading the files and standard input the verbs take.
enum BiscuitInput {
    /// The largest file or standard input read (a token is at most 1 MiB; Datalog text too).
    static let maxInputBytes = 4 << 20

    /// The bytes of `path`, or of standard input for nil or `-`.
    static func bytes(_ path: String?, what: String) throws -> [UInt8] {
        let data: Data
        if path == nil || path == "-" {
            data = FileHandle.standardInput.readData(ofLength: maxInputBytes + 1)
        } else if let path {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw BiscuitFailure(kind: "Input", message: "cannot read \(what) file \(path)")
            }
            defer { try? handle.close() }
            data = handle.readData(ofLength: maxInputBytes + 1)
        } else {
            data = Data()
        }
        guard data.count <= maxInputBytes else {
            throw BiscuitFailure(kind: "Input", message: "the \(what) is larger than \(maxInputBytes) bytes")
        }
        return Array(data)
    }

    /// The text of `path` (or standard input), as UTF-8.
    static func text(_ path: String?, what: String) throws -> String {
        let bytes = try bytes(path, what: what)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw BiscuitFailure(kind: "Input", message: "the \(what) is not UTF-8 text")
        }
        return text
    }

    /// The text of `path` with surrounding white space removed.
    static func trimmedText(_ path: String?, what: String) throws -> String {
        try text(path, what: what).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Exactly one of a file option and a text option, or a usage error.
    static func oneOf(file: String?, fileFlag: String, text: String?, textFlag: String, what: String) throws -> String {
        switch (file, text) {
        case (let file?, nil): return try self.text(file, what: what)
        case (nil, let text?): return text
        case (nil, nil): throw ValidationError("give the \(what) with \(fileFlag) FILE or \(textFlag) TEXT")
        case (.some, .some): throw ValidationError("give \(fileFlag) or \(textFlag), not both")
        }
    }
}

/// How a verb reads a token.
struct BiscuitTokenInput: ParsableArguments {
    @Argument(help: "The token file, or - (the default) for standard input.")
    var tokenFile: String?
    @Flag(help: "The token is raw bytes, not base64 text.")
    var rawInput = false

    /// The token as given: base64 text (white space around it trimmed) or raw bytes.
    func read() throws -> BiscuitTokenText {
        let bytes = try BiscuitInput.bytes(tokenFile, what: "token")
        if rawInput { return .bytes(bytes) }
        return .base64(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// A token as read, before the library decodes and verifies it.
enum BiscuitTokenText {
    /// URL-safe base64, padding optional (decoded by the library, as the reference decodes it).
    case base64(String)
    /// The token's bytes.
    case bytes([UInt8])

    /// The token, verified with the root key `provider` gives for the token's root key id.
    func token(rootKey provider: (UInt32?) -> PublicKey?) throws(BiscuitError) -> Token {
        switch self {
        case .base64(let text): return try Token(base64: text, rootKey: provider)
        case .bytes(let bytes): return try Token(bytes: bytes, rootKey: provider)
        }
    }

    /// The token, verified with `rootKey`; without one, read with every signature but the
    /// authority block's checked (`Token(unverifiedBytes:)`): enough to attenuate, seal or ask a
    /// third party, as the holder of a token does without the issuer's key.
    func token(rootKey: PublicKey?) throws(BiscuitError) -> Token {
        guard let rootKey else {
            switch self {
            case .base64(let text): return try Token(unverifiedBase64: text)
            case .bytes(let bytes): return try Token(unverifiedBytes: bytes)
            }
        }
        return try token(rootKey: { _ in rootKey })
    }
}

/// The root public key options.
struct BiscuitPublicKeyInput: ParsableArguments {
    @Option(help: "The root public key: ed25519/<hex> or secp256r1/<hex>.")
    var publicKey: String?
    @Option(help: "A file holding the root public key in that text form.")
    var publicKeyFile: String?

    /// Checks the options when the command line is parsed (a key file is read later).
    func validate() throws {
        if publicKey != nil && publicKeyFile != nil { throw ValidationError("give --public-key or --public-key-file, not both") }
        if let publicKey, (try? PublicKey(publicKey.trimmingCharacters(in: .whitespacesAndNewlines))) == nil {
            throw ValidationError("the public key is not ed25519/<hex> or secp256r1/<hex>")
        }
    }

    /// The key, or nil when neither option is given.
    func key() throws -> PublicKey? {
        let text: String
        switch (publicKey, publicKeyFile) {
        case (nil, nil): return nil
        case (let key?, nil): text = key
        case (nil, let file?): text = try BiscuitInput.trimmedText(file, what: "public key")
        case (.some, .some): throw ValidationError("give --public-key or --public-key-file, not both")
        }
        do {
            return try PublicKey(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw ValidationError("the public key is not ed25519/<hex> or secp256r1/<hex>")
        }
    }

    /// A usage error naming the verb when neither option is given.
    func require(for verb: String) throws {
        guard publicKey != nil || publicKeyFile != nil else {
            throw ValidationError("\(verb) verifies the token first: give --public-key or --public-key-file")
        }
    }

    /// The key, or a usage error naming the verb that needs it.
    func requiredKey(for verb: String) throws -> PublicKey {
        guard let key = try key() else {
            throw ValidationError("\(verb) verifies the token first: give --public-key or --public-key-file")
        }
        return key
    }
}

/// The private key options: a file, the text, or `RAMPART_BISCUIT_PRIVATE_KEY`.
struct BiscuitPrivateKeyInput: ParsableArguments {
    @Option(help: "A file holding the private key: ed25519-private/<hex> or secp256r1-private/<hex>.")
    var privateKeyFile: String?
    @Option(help: "The private key itself (visible to other users in the process list: prefer the file or the environment).")
    var privateKey: String?

    /// The environment variable read when neither option is given.
    static let environmentVariable = "RAMPART_BISCUIT_PRIVATE_KEY"

    /// Checks the options when the command line is parsed (the key itself is read later).
    func validate() throws {
        if privateKeyFile != nil && privateKey != nil { throw ValidationError("give --private-key-file or --private-key, not both") }
    }

    func key() throws -> PrivateKey {
        let text: String
        switch (privateKeyFile, privateKey) {
        case (let file?, nil): text = try BiscuitInput.trimmedText(file, what: "private key")
        case (nil, let key?): text = key
        case (.some, .some): throw ValidationError("give --private-key-file or --private-key, not both")
        case (nil, nil):
            guard let key = ProcessInfo.processInfo.environment[Self.environmentVariable] else {
                throw ValidationError("give the private key: --private-key-file, --private-key or $\(Self.environmentVariable)")
            }
            text = key
        }
        do {
            return try PrivateKey(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            // Never echo the text: it is meant to be a secret.
            throw ValidationError("the private key is not ed25519-private/<hex> or secp256r1-private/<hex>")
        }
    }
}

/// `--algorithm`, `--next-key-algorithm`: ed25519 or secp256r1.
enum BiscuitAlgorithm: String, ExpressibleByArgument, CaseIterable {
    case ed25519
    case secp256r1

    var algorithm: Algorithm {
        switch self {
        case .ed25519: return .ed25519
        case .secp256r1: return .secp256r1
        }
    }
}

// MARK: - Parameters

/// `--param name=value` (a string), or `--param name:TYPE=value` with TYPE one of `string`,
/// `integer`, `date` (RFC 3339), `bytes` (hex, with or without `hex:`), `bool`, or `pubkey`
/// (`ed25519/<hex>`, for `trusting {name}` scopes).
struct BiscuitParameters: ParsableArguments {
    @Option(
        name: .customLong("param"),
        help: ArgumentHelp(
            "A Datalog parameter {name}: name=value (a string) or name:TYPE=value, TYPE one of string, integer, date, bytes, bool, pubkey.",
            valueName: "name[:type]=value"))
    var parameters: [String] = []

    /// Checks the parameters when the command line is parsed (so that a usage error names the verb).
    func validate() throws {
        _ = try values()
    }

    /// The term parameters and the scope (public key) parameters.
    func values() throws -> (terms: [String: Term], keys: [String: PublicKey]) {
        var terms: [String: Term] = [:]
        var keys: [String: PublicKey] = [:]
        for item in parameters {
            guard let equals = item.firstIndex(of: "=") else { throw ValidationError("--param \(item): expected name[:type]=value") }
            var name = String(item[..<equals])
            let value = String(item[item.index(after: equals)...])
            var type = "string"
            for candidate in ["string", "integer", "date", "bytes", "bool", "pubkey"] where name.hasSuffix(":" + candidate) {
                type = candidate
                name = String(name.dropLast(candidate.count + 1))
            }
            guard let first = name.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII,
                name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == ":") })
            else {
                throw ValidationError("--param \(item): a parameter name is a letter then letters, digits, _ or :")
            }
            guard terms[name] == nil, keys[name] == nil else { throw ValidationError("--param \(name) is given twice") }
            switch type {
            case "pubkey":
                guard let key = try? PublicKey(value) else { throw ValidationError("--param \(name): not ed25519/<hex> or secp256r1/<hex>") }
                keys[name] = key
            default:
                terms[name] = try Self.term(type: type, value: value, name: name)
            }
        }
        return (terms, keys)
    }

    private static func term(type: String, value: String, name: String) throws -> Term {
        switch type {
        case "integer":
            guard let integer = Int64(value) else { throw ValidationError("--param \(name): not a 64-bit integer: \(value)") }
            return .integer(integer)
        case "date":
            guard let seconds = RFC3339.seconds(value) else { throw ValidationError("--param \(name): not an RFC 3339 date after 1970: \(value)") }
            return .date(seconds)
        case "bytes":
            let digits = value.hasPrefix("hex:") ? String(value.dropFirst(4)) : value
            guard let bytes = HexText.decode(digits) else { throw ValidationError("--param \(name): not hex digits: \(value)") }
            return .bytes(bytes)
        case "bool":
            guard let bool = Bool(value) else { throw ValidationError("--param \(name): not true or false: \(value)") }
            return .bool(bool)
        default:
            return .string(value)
        }
    }
}

/// Dates as RFC 3339 text.
enum RFC3339 {
    /// Seconds since 1970 (fractions dropped, as the Datalog parser does); nil for text that is
    /// not an RFC 3339 date-time, or is before 1970.
    static func seconds(_ text: String) -> UInt64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var date = formatter.date(from: text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            date = formatter.date(from: text)
        }
        guard let interval = date?.timeIntervalSince1970, interval >= 0, interval < 1e18 else { return nil }
        return UInt64(interval.rounded(.down))
    }

    /// `2024-01-02T03:04:05Z`.
    static func text(_ seconds: UInt64) -> String {
        DateText.format(seconds)
    }
}

/// Lower-case hexadecimal.
enum HexText {
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

// MARK: - JSON

/// A JSON value whose objects keep their keys in the order given (a report reads top-down) and
/// write absent values as `null` (every documented field is always present).
indirect enum JSONValue {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    static func optional(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }
    static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }

    /// The JSON text: indented by two spaces when `pretty`, else on one line.
    func serialized(pretty: Bool) -> String {
        var text = ""
        write(into: &text, pretty: pretty, depth: 0)
        return text
    }

    private func write(into text: inout String, pretty: Bool, depth: Int) {
        let newline = pretty ? "\n" + String(repeating: "  ", count: depth + 1) : ""
        let closing = pretty ? "\n" + String(repeating: "  ", count: depth) : ""
        switch self {
        case .null: text += "null"
        case .bool(let value): text += value ? "true" : "false"
        case .integer(let value): text += String(value)
        case .string(let value): Self.quote(value, into: &text)
        case .array(let items):
            guard !items.isEmpty else {
                text += "[]"
                return
            }
            text += "["
            for (index, item) in items.enumerated() {
                text += (index == 0 ? "" : ",") + newline
                item.write(into: &text, pretty: pretty, depth: depth + 1)
            }
            text += closing + "]"
        case .object(let members):
            guard !members.isEmpty else {
                text += "{}"
                return
            }
            text += "{"
            for (index, (key, value)) in members.enumerated() {
                text += (index == 0 ? "" : ",") + newline
                Self.quote(key, into: &text)
                text += pretty ? ": " : ":"
                value.write(into: &text, pretty: pretty, depth: depth + 1)
            }
            text += closing + "}"
        }
    }

    private static func quote(_ value: String, into text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20: text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

/// Prints a verb's JSON report (indented, one object).
func printJSON(_ value: JSONValue) {
    print(value.serialized(pretty: true))
}
