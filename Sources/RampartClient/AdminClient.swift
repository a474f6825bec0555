import APIModels
import ArgumentParser
import Crypto
import Foundation
import RampartHTTPClient


/// Connection options shared by the admin commands.
struct ClientOptions: ParsableArguments {
    @Option(help: "Comma-separated API endpoints; the next is tried when one is unreachable or unavailable (default: $RAMPART_ENDPOINTS, else http://127.0.0.1:8001).")
    var endpoints = ClientOptions.defaultEndpoints

    /// `$RAMPART_ENDPOINTS`, else the first replica of a local cluster.
    static var defaultEndpoints: String { ProcessInfo.processInfo.environment["RAMPART_ENDPOINTS"] ?? "http://127.0.0.1:8001" }
    @Option(help: "File holding the API key (default: $RAMPART_API_KEY_FILE, or $RAMPART_API_KEY itself).")
    var apiKeyFile: String?
    @Option(help: "Seconds to wait for each request.") var timeout: Double = 15
    @Option(name: [.customShort("o"), .long], help: "table or json (json: errors too, as problem JSON on standard error).")
    var output = "table"

    func validate() throws {
        guard ["table", "json"].contains(output) else { throw ValidationError("--output is table or json, not \"\(output)\"") }
    }
    @OptionGroup var tls: TLSOptions

    /// The bearer token, from the file option, then the environment. With none, but a client
    /// certificate to present (`--cert`), the empty string: requests then carry no
    /// `Authorization` header, and the certificate authenticates them on replicas that accept
    /// client certificates naming a principal.
    func token() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = apiKeyFile ?? environment["RAMPART_API_KEY_FILE"] {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read the API key file \(path)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let key = environment["RAMPART_API_KEY"] { return key }
        if (tls.cert ?? environment["RAMPART_CERT"]) != nil { return "" }
        throw ValidationError("no API key: pass --api-key-file or set RAMPART_API_KEY_FILE (or present a client certificate: --cert, --key)")
    }

    func client() throws -> AdminClient {
        AdminClient(endpoints: endpoints.split(separator: ",").map { String($0) }, timeout: timeout, transport: try tls.transport())
    }
}

/// How the CLI trusts `https://` endpoints, and the certificate it presents.
struct TLSOptions: ParsableArguments {
    @Option(help: "A PEM file of the CA(s) to trust for https:// endpoints (default: $RAMPART_CACERT, else the system's).") var cacert: String?
    @Option(help: "A client certificate (PEM) to present over TLS (default: $RAMPART_CERT).") var cert: String?
    @Option(help: "The client certificate's key (PEM) (default: $RAMPART_KEY).") var key: String?

    /// The transport these settings describe.
    func transport() throws -> HTTPTransport {
        let environment = ProcessInfo.processInfo.environment
        let tls = HTTPTransport.TLS(
            caFile: cacert ?? environment["RAMPART_CACERT"], certificateFile: cert ?? environment["RAMPART_CERT"],
            keyFile: key ?? environment["RAMPART_KEY"])
        do {
            return try HTTPTransport(tls: tls)
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// A small HTTP client with failover across endpoints.
struct AdminClient {
    let endpoints: [String]
    let timeout: Double
    /// How requests travel (plain HTTP, or TLS with the given trust).
    let transport: HTTPTransport

    /// A request that did not succeed: its kind decides the exit status (`ExitStatus`).
    struct Failure: Error, CustomStringConvertible {
        let description: String
        var kind = ExitStatus.failed
        /// The problem the cluster answered with, when it answered with one.
        var problem: Problem?
    }

    /// Sends a request to the first endpoint that answers (not 503: no leader, nothing applied);
    /// returns the status and body.
    func send(_ method: String, _ path: String, body: (some Encodable)?, authorization: String?, headers: [String: String] = [:]) async throws
        -> (Int, Data)
    {
        var lastError = "no endpoint"
        for endpoint in endpoints {
            guard let url = URL(string: endpoint + path) else { throw Failure(description: "invalid endpoint \(endpoint)") }
            var fields: [(String, String)] = []
            if let authorization { fields.append(("Authorization", authorization)) }
            for (name, value) in headers { fields.append((name, value)) }
            var data: Data?
            if let body {
                data = try JSONEncoder().encode(body)
                fields.append(("Content-Type", "application/json"))
            }
            do {
                let (status, answer) = try await transport.send(url, method: method, headers: fields, body: data, timeout: timeout)
                if status == 503 {
                    lastError = "\(endpoint): \(String(decoding: answer, as: UTF8.self))"
                    continue
                }
                return (status, answer)
            } catch let error as HTTPTransport.NotSent {
                // Never sent: safe to try the next endpoint.
                lastError = "\(endpoint): \(error)"
            } catch {
                lastError = "\(endpoint): \(error)"
                // A write that may have reached the server is not sent again elsewhere (it
                // could apply twice).
                if method != "GET" && headers["Idempotency-Key"] == nil {
                    throw Failure(description: "\(lastError); the write's outcome is unknown (retry with --idempotency-key)", kind: .unknownOutcome)
                }
            }
        }
        throw Failure(description: "no endpoint could serve the request (last: \(lastError))", kind: .unavailable)
    }

    /// Sends a request and decodes a successful answer; a problem answer becomes an error.
    func call<Answer: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = nil as String?, token: String?) async throws
        -> Answer
    {
        let (status, data) = try await send(method, path, body: body, authorization: token.flatMap { $0.isEmpty ? nil : "Bearer \($0)" })
        return try decode(status, data)
    }

    /// Sends to `endpoint`, `values` filling its path, and decodes a successful answer.
    func call<Answer: Decodable>(_ endpoint: Endpoint, _ values: String..., body: (some Encodable)? = nil as String?, token: String?)
        async throws -> Answer
    {
        try await call(endpoint.method, endpoint.path(values), body: body, token: token)
    }

    func decode<Answer: Decodable>(_ status: Int, _ data: Data) throws -> Answer {
        guard (200..<300).contains(status) else {
            if let problem = try? JSONDecoder().decode(Problem.self, from: data) {
                throw Failure(description: "\(problem.status) \(problem.code): \(problem.detail)", kind: .failed, problem: problem)
            }
            throw Failure(description: "HTTP \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return try JSONDecoder().decode(Answer.self, from: data)
    }
}

/// Prints a value as JSON or as aligned `key: value` lines.
func printOutput(_ value: some Encodable, format: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let text = String(decoding: try encoder.encode(value), as: UTF8.self)
    if format == "json" {
        print(text)
        return
    }
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        print(text)
        return
    }
    let width = object.keys.map(\.count).max() ?? 0
    for key in object.keys.sorted() {
        let value = object[key].map(display) ?? ""
        print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
    }
}

/// A JSON value as table text: strings bare, everything else (booleans, numbers, lists) as JSON.
func display(_ value: Any) -> String {
    if let text = value as? String { return text }
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return "\(value)" }
    return String(decoding: data, as: UTF8.self)
}

/// `rampart bootstrap`: creates the first `system.admin` key and writes it to a file only its
/// owner can read. Needs the cluster secret, so only an operator of the cluster can do it; the
/// proof is bound to a one-time challenge from the replica that answers (`ClusterProof`).
/// `--break-glass` creates another `system.admin` key in a bootstrapped cluster, for an
/// operator who lost every administrator key; it is audited as `cluster.break-glass`.
struct BootstrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap", abstract: "Create the first system.admin API key of a new cluster.",
        discussion: """
            With --break-glass: create another system.admin key in a bootstrapped cluster whose administrator keys are
            all lost (re-creating system/admin and its binding if they were deleted). Both need the cluster secret and
            are recorded in the audit log.
            """)

    @Option(help: "Comma-separated API endpoints (default: $RAMPART_ENDPOINTS, else http://127.0.0.1:8001).")
    var endpoints = ClientOptions.defaultEndpoints
    @Option(help: "The cluster secret file the replicas use.") var clusterSecretFile: String
    @Option(help: "Where to write the admin API key (created with mode 0600; must not exist).") var adminKeyFile: String
    @Option(help: "Seconds to keep trying while the cluster elects its first leader.") var wait: Double = 30
    @Flag(help: "Create another system.admin key in a bootstrapped cluster (every other key lost).") var breakGlass = false
    @OptionGroup var tls: TLSOptions

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: adminKeyFile) else {
            throw CommandFailure("\(adminKeyFile) exists; refusing to overwrite an admin key")
        }
        guard var secret = FileManager.default.contents(atPath: clusterSecretFile).map(Array.init) else {
            throw CommandFailure("cannot read \(clusterSecretFile)")
        }
        while let last = secret.last, last == 0x0A || last == 0x0D { secret.removeLast() }
        let purpose: ClusterProof.Purpose = breakGlass ? .breakGlass : .bootstrap
        let path = (breakGlass ? Endpoint.breakGlass : Endpoint.bootstrap).path()
        let deadline = Date().addingTimeInterval(wait)
        var answer: BootstrapResponse?
        var lastError = "no endpoint"
        let transport = try tls.transport()
        while answer == nil {
            for endpoint in endpoints.split(separator: ",").map(String.init) {
                // The challenge and the proof go to the same replica: it alone knows the challenge.
                let client = AdminClient(endpoints: [endpoint], timeout: 15, transport: transport)
                do {
                    let challenge: ChallengeResponse = try await client.call(Endpoint.bootstrapChallenge, token: nil)
                    guard let bytes = Hex.decode(challenge.challenge) else { throw AdminClient.Failure(description: "malformed challenge") }
                    let proof = ClusterProof.prove(purpose, challenge: bytes, secret: secret)
                    let (status, data) = try await client.send(
                        "POST", path, body: nil as String?, authorization: ClusterProof.header(challenge: bytes, proof: proof))
                    answer = try client.decode(status, data)
                    break
                } catch let error as AdminClient.Failure {
                    lastError = error.description
                    // A refusal is final; only an unavailable cluster is worth waiting for.
                    if ["already_bootstrapped", "unauthenticated", "invalid_state", "limit_exceeded"].contains(where: lastError.contains) {
                        throw error
                    }
                }
            }
            if answer == nil {
                guard Date() < deadline else { throw AdminClient.Failure(description: "gave up after \(wait) s: \(lastError)") }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        guard let answer else { return }
        try SecureFile.create(adminKeyFile, contents: answer.token + "\n")
        let verb = breakGlass ? "break-glass key" : "bootstrapped"
        print("\(verb): \(answer.principal) key \(answer.keyID) written to \(adminKeyFile) (mode 0600), revision \(answer.revision)")
    }
}

/// Creates files readable only by their owner.
enum SecureFile {
    static func create(_ path: String, contents: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CommandFailure("cannot create \(path): errno \(errno)") }
        defer { close(descriptor) }
        let bytes = Array(contents.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw CommandFailure("cannot write \(path): errno \(errno)")
        }
    }
}

/// `rampart cluster ...`
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Inspect and change the cluster.",
        subcommands: [Status.self, Health.self, Hash.self, Add.self, Promote.self, Remove.self, SetAddress.self, Transfer.self])

    struct Hash: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a replica's state hash and audit head.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let hash: StateHashResponse = try await options.client().call(Endpoint.clusterHash, token: try options.token())
            try printOutput(hash, format: options.output)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a replica as a learner, by its peer address.",
            discussion: """
                Start the new replica first (no initial_cluster; its peers need list only itself: until it \
                belongs to the cluster it hears the leader that adds it, and it learns every member's \
                address from the replicated address book), then: rampart cluster add --id 4 \
                --peer-address 10.0.0.14:7001. The replica \
                serving the request proves that replica 4 runs there with the cluster secret, writes the \
                address to the replicated address book (every replica reaches it with no restart), and \
                adds it as a learner. The leader promotes it to a voter once it has stayed caught up \
                (the auto_promote_seconds setting), unless --no-auto-promote is given. Without \
                --peer-address the address must be in every replica's configured peers. The command \
                warns when the leader has heard nothing from the new replica within 5 seconds.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ReplicaArgument
        @Option(help: "The replica's peer address, host:port (an IPv6 host in brackets).") var peerAddress: String?
        @Flag(help: "Keep it a learner until promoted by hand (rampart cluster promote).") var noAutoPromote = false

        func validate() throws {
            if noAutoPromote && peerAddress == nil { throw ValidationError("--no-auto-promote applies with --peer-address only") }
        }

        func run() async throws {
            try await member(
                "add_learner", target.replica, options, peerAddress: peerAddress,
                autoPromote: peerAddress == nil ? nil : !noAutoPromote)
            if let warning = await Self.unacknowledged(target.replica, options) {
                FileHandle.standardError.write(Data((warning + "\n").utf8))
            }
        }

        /// How long the learner has to answer the leader before the command warns.
        static let acknowledgementWait: Duration = .seconds(5)

        /// A warning when the leader (among the endpoints) has heard nothing from `replica`
        /// within `acknowledgementWait`: the new replica refused the leader (another cluster
        /// secret, a certificate that does not name the leader, a replica that already belongs
        /// to a membership and lacks the leader's address) or cannot be reached from it. Nil
        /// when it answered, or when no endpoint is the leader (nothing to tell).
        static func unacknowledged(_ replica: UInt64, _ options: ClientOptions) async -> String? {
            let deadline = ContinuousClock.now + acknowledgementWait
            var leader: ClusterStatus?
            while ContinuousClock.now < deadline {
                let token = try? options.token()
                let answers = (try? await ClusterView.each(options) { client, _ -> ClusterStatus in
                    try await client.call(Endpoint.clusterStatus, token: token)
                }) ?? []
                leader = answers.compactMap { try? $0.answer.get() }.first { $0.role == "leader" }
                guard let leader else { return nil }
                if let progress = leader.progress?.first(where: { $0.id == replica }), progress.matchIndex > 0 { return nil }
                try? await Task.sleep(for: .milliseconds(250))
            }
            guard let leader else { return nil }
            let address = leader.members?.first { $0.id == leader.id }?.peerAddress ?? "its peer address"
            return "warning: replica \(replica) has not answered the leader (replica \(leader.id), at \(address)) in \(acknowledgementWait): "
                + "check its log (the cluster secret, its certificate, whether it already belongs to a cluster) and that it can be reached"
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a caught-up learner a voter.",
            discussion: "A learner that has acknowledged nothing, or lags the leader, is refused unless --force is given.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ReplicaArgument
        @Flag(help: "Promote even a learner that has not caught up (it may cost the cluster its majority).") var force = false
        func run() async throws { try await member("promote", target.replica, options, force: force ? true : nil) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a replica (then its entry in the address book).",
            discussion: "A removed replica stops by itself; never start it again under the same id with an empty data directory.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ReplicaArgument
        func run() async throws { try await member("remove", target.replica, options) }
    }

    struct SetAddress: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-address", abstract: "Move a member to another peer address, with no restart.",
            discussion: """
                Start the replica at its new address first (same id, same data directory); the replica \
                serving the request proves it runs there, then every replica reconnects to it there.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ReplicaArgument
        @Option(help: "The new peer address, host:port.") var peerAddress: String
        func run() async throws { try await member("set_address", target.replica, options, peerAddress: peerAddress) }
    }

    struct Transfer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hand leadership to a voter.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var target: ReplicaArgument
        func run() async throws {
            let status: ClusterStatus = try await options.client().call(
                Endpoint.clusterLeader, body: TransferRequest(replica: target.replica), token: try options.token())
            try printOutput(status, format: options.output)
        }
    }
}

private func member(
    _ action: String, _ replica: UInt64, _ options: ClientOptions, force: Bool? = nil, peerAddress: String? = nil, autoPromote: Bool? = nil
) async throws {
    let request = MembershipRequest(action: action, replica: replica, force: force, peerAddress: peerAddress, autoPromote: autoPromote)
    let answer: RevisionResponse = try await options.client().call(Endpoint.clusterMembers, body: request, token: try options.token())
    try printOutput(answer, format: options.output)
}

/// The replica a membership command is about: `--id N`, or N as the argument.
struct ReplicaArgument: ParsableArguments {
    @Argument(help: "The replica id (or give --id).") var positional: UInt64?
    @Option(name: .customLong("id"), help: "The replica id.") var id: UInt64?

    func validate() throws {
        switch (positional, id) {
        case (nil, nil): throw ValidationError("name the replica: --id N")
        case (let a?, let b?) where a != b: throw ValidationError("two different replica ids: \(a) and --id \(b)")
        default: break
        }
    }

    /// The replica id (validated).
    var replica: UInt64 { id ?? positional ?? 0 }
}
