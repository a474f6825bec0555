import APIModels
import ArgumentParser
import Foundation
import RampartHTTPClient

/// `rampart watch`: the change stream (`GET /v1/watch`), printed as it comes, resumed on the
/// next endpoint from the last revision seen when a replica goes away.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Print every committed change as it happens (the change stream).",
        discussion: """
            Each change is printed once, in order, with its revision: the action (organization.create, \
            binding.delete...), its target and who made it. When the replica serving the stream goes \
            away, the stream resumes on the next endpoint from the revision after the last one \
            printed. --from-revision N starts with the changes from revision N (the whole history \
            from 1); without it, only changes from now on. Needs iam.audit.read on the cluster, or on \
            the organization given with --organization (whose changes alone are printed). Runs until \
            interrupted, or with --until-revision until a change at that revision or later was printed.
            """)

    @Option(help: "The first revision to print changes from (default: the next one).") var fromRevision: UInt64?
    @Option(help: "Only this organization's changes.") var organization: String?
    @Option(help: "Stop once a change at this revision or later was printed.") var untilRevision: UInt64?
    @Flag(help: "Print the progress lines too (how far a quiet replica has applied).") var progress = false
    @OptionGroup var options: ClientOptions

    /// How long a stream may stay silent before it is taken for dead (progress lines come every
    /// 10 s from a live replica).
    static let silenceSeconds = 30.0

    func run() async throws {
        let token = try options.token()
        let transport = try options.tls.transport()
        let endpoints = options.endpoints.split(separator: ",").map(String.init)
        let state = WatchState(next: fromRevision)
        let output = options.output
        var failures = 0
        var index = 0
        while true {
            let endpoint = endpoints[index % endpoints.count]
            index += 1
            var query = [String]()
            if let next = state.next { query.append("from_revision=\(next)") }
            if let organization {
                query.append("organization=" + (organization.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? organization))
            }
            guard let url = URL(string: endpoint + Endpoint.watch.path([]) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))) else {
                throw CommandFailure("invalid endpoint \(endpoint)", kind: .usage)
            }
            let headers = token.isEmpty ? [] : [("Authorization", "Bearer \(token)")]
            let printProgress = progress
            let until = untilRevision
            do {
                let (status, body) = try await transport.lines(url, headers: headers, idleTimeout: Self.silenceSeconds) { line in
                    guard let event = try? JSONDecoder().decode(WatchEvent.self, from: line) else { return }
                    state.seen(event)
                    if event.type == "change" || printProgress { Self.print(event, line: line, format: output) }
                    if event.type == "change", let until, event.revision >= until { Foundation.exit(ExitStatus.success.rawValue) }
                }
                guard status == 200 else {
                    if status == 503 {
                        failures += 1
                    } else if let problem = try? JSONDecoder().decode(Problem.self, from: body) {
                        throw AdminClient.Failure(description: "\(problem.status) \(problem.code): \(problem.detail)", problem: problem)
                    } else {
                        throw AdminClient.Failure(description: "HTTP \(status): \(String(decoding: body, as: UTF8.self))")
                    }
                    continue
                }
                failures = 0
            } catch let error as AdminClient.Failure {
                throw error
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("\(endpoint): \(error); resuming on the next endpoint\n".utf8))
            }
            // Every endpoint failed in a row: the cluster is unreachable.
            if failures >= endpoints.count * 3 {
                throw AdminClient.Failure(description: "no endpoint could serve the change stream", kind: .unavailable)
            }
            if failures >= endpoints.count { try await Task.sleep(for: .seconds(1)) }
        }
    }

    static func print(_ event: WatchEvent, line: Data, format: String) {
        if format == "json" {
            Swift.print(String(decoding: line, as: UTF8.self))
            return
        }
        if event.type == "progress" {
            Swift.print("\(event.revision)  (progress)")
            return
        }
        let columns = [String(event.revision), event.time ?? "", event.action ?? "", event.target ?? "", event.actor ?? ""]
        Swift.print(columns.joined(separator: "  "))
    }
}

/// The next revision a resumed stream asks for: one after the last change or progress seen.
final class WatchState: @unchecked Sendable {
    private let lock = NSLock()
    private var nextRevision: UInt64?

    init(next: UInt64?) {
        nextRevision = next
    }

    var next: UInt64? {
        lock.lock()
        defer { lock.unlock() }
        return nextRevision
    }

    func seen(_ event: WatchEvent) {
        lock.lock()
        defer { lock.unlock() }
        nextRevision = max(nextRevision ?? 0, event.revision + 1)
    }
}
