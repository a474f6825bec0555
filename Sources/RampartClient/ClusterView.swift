import APIModels
import ArgumentParser
import Foundation
import RampartHTTPClient

/// The cluster as every endpoint sees it: `rampart cluster status` and `rampart cluster health`
/// ask each endpoint in turn of its own (`--endpoints`, or `$RAMPART_ENDPOINTS`), not the first
/// that answers, so a replica that is down, lagging or diverging shows as its own row.
struct ClusterView {
    /// One endpoint's answer.
    struct Row: Encodable {
        var endpoint: String
        var status: ClusterStatus?
        var hash: StateHashResponse?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case endpoint, status, error
            case hash = "state"
        }
    }

    let options: ClientOptions

    /// Each endpoint of `options`, asked with `ask` concurrently; in the order given.
    static func each<Answer: Sendable>(
        _ options: ClientOptions, _ ask: @escaping @Sendable (AdminClient, String) async throws -> Answer
    ) async throws -> [(endpoint: String, answer: Result<Answer, any Error>)] {
        let endpoints = options.endpoints.split(separator: ",").map(String.init)
        let transport = try options.tls.transport()
        let timeout = options.timeout
        return await withTaskGroup(of: (Int, Result<Answer, any Error>).self) { group in
            for (index, endpoint) in endpoints.enumerated() {
                group.addTask {
                    let client = AdminClient(endpoints: [endpoint], timeout: timeout, transport: transport)
                    do {
                        return (index, .success(try await ask(client, endpoint)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var answers: [(Int, Result<Answer, any Error>)] = []
            for await answer in group { answers.append(answer) }
            return answers.sorted { $0.0 < $1.0 }.map { (endpoints[$0.0], $0.1) }
        }
    }

    /// Every endpoint's status and state hash.
    func rows() async throws -> [Row] {
        let token = try options.token()
        return try await Self.each(options) { client, _ -> (ClusterStatus, StateHashResponse) in
            let status: ClusterStatus = try await client.call(Endpoint.clusterStatus, token: token)
            let hash: StateHashResponse = try await client.call(Endpoint.clusterHash, token: token)
            return (status, hash)
        }.map { endpoint, answer in
            switch answer {
            case .success(let (status, hash)): return Row(endpoint: endpoint, status: status, hash: hash)
            case .failure(let error): return Row(endpoint: endpoint, error: "\(error)")
            }
        }
    }

    /// The table of `rows` (at most 100 columns for three local endpoints: hashes and heads are
    /// cut to 8 digits; `--output json` has them whole), then a summary line.
    static func table(_ rows: [Row]) -> [String] {
        let statuses = rows.compactMap(\.status)
        let leader = statuses.first { $0.role == "leader" }
        let newest = statuses.map(\.commitIndex).max() ?? 0
        let header = ["ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG", "CONTACT", "STATE", "AUDIT", "VERSION"]
        var cells: [[String]] = [header]
        // The endpoint without its scheme (the same for every row; `-o json` has it whole).
        func shown(_ endpoint: String) -> String {
            endpoint.range(of: "://").map { String(endpoint[$0.upperBound...]) } ?? endpoint
        }
        for row in rows {
            guard let status = row.status else {
                cells.append([shown(row.endpoint), "-", "unreachable", "", "", "", "", "", "", "", "", ""])
                continue
            }
            let contact: String
            if status.role == "leader" {
                contact = "-"
            } else if let milliseconds = leader?.progress?.first(where: { $0.id == status.id })?.lastContactMilliseconds {
                contact = "\(milliseconds)ms"
            } else {
                contact = "?"
            }
            cells.append([
                shown(row.endpoint), "\(status.id)", status.role, "\(status.term)", status.leader.map { "\($0)" } ?? "none", "\(status.commitIndex)",
                "\(status.appliedIndex)", "\(newest > status.appliedIndex ? newest - status.appliedIndex : 0)", contact,
                String((row.hash?.stateHash ?? "").prefix(8)), String(status.auditHead.prefix(8)) + "#\(status.auditSequence)",
                status.version ?? "?",
            ])
        }
        var lines = TableLayout.padded(cells)
        let unreachable = rows.filter { $0.status == nil }
        for row in unreachable { lines.append("\(row.endpoint): \(row.error ?? "unreachable")") }
        if let leader {
            let voters = leader.voters.count
            let tolerance = leader.failureTolerance ?? (voters - 1) / 2
            let revisions = Set(rows.compactMap { $0.hash?.revision })
            let hashes = Set(rows.compactMap { row in row.hash.map { "\($0.revision) \($0.stateHash)" } })
            let agreement =
                revisions.count == 1 && hashes.count == 1
                ? "state hashes agree at revision \(revisions.first!)"
                : revisions.count == hashes.count ? "replicas at different revisions (hashes compare at equal revisions)" : "STATE HASHES DIFFER at one revision"
            lines.append(
                "leader \(leader.id), term \(leader.term); \(voters) voters (tolerates \(tolerance) failure\(tolerance == 1 ? "" : "s")), "
                    + "\(leader.learners.count) learners; \(agreement); version \(leader.version ?? "?")")
            lines += memberLines(leader)
        } else {
            lines.append("no endpoint reached is the leader")
        }
        return lines
    }
}

extension ClusterView {
    /// One line per member, as the leader knows it: its role, peer address (and whether it
    /// comes from the replicated address book or the configuration), and its progress.
    static func memberLines(_ leader: ClusterStatus) -> [String] {
        guard let members = leader.members, !members.isEmpty else { return [] }
        var cells: [[String]] = [["MEMBER", "ROLE", "PEER ADDRESS", "FROM", "MATCH", "LAG", "CONTACT"]]
        for member in members {
            let progress = leader.progress?.first { $0.id == member.id }
            let role = member.voter ? "voter" : member.autoPromote ? "learner (auto-promote)" : "learner"
            cells.append([
                "\(member.id)", member.id == leader.id ? "voter (leader)" : role, member.peerAddress ?? "unknown", member.addressSource,
                member.id == leader.id ? "\(leader.lastIndex)" : progress.map { "\($0.matchIndex)" } ?? "?",
                member.id == leader.id ? "0" : progress.map { "\($0.lag)" } ?? "?",
                member.id == leader.id ? "-" : progress?.lastContactMilliseconds.map { "\($0)ms" } ?? "never",
            ])
        }
        return TableLayout.padded(cells)
    }
}

extension ClusterCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cluster as each endpoint sees it: one row per endpoint.",
            discussion: """
                Every endpoint of --endpoints (or $RAMPART_ENDPOINTS) is asked on its own: its id, role, term, the leader it \
                knows, commit and applied index, LAG (entries it has not applied of the newest commit index seen), CONTACT \
                (how long ago the leader last heard from it), STATE (its state hash at its revision) and AUDIT (its audit \
                head and sequence) and VERSION (its build). A summary line follows: the leader, the voters and how many may fail, and whether the \
                state hashes agree; then the leader's table of members: role, peer address (from the replicated address \
                book or the configuration), match index, lag and last contact. --output json gives every field whole. Exits 1 when an endpoint cannot be reached.
                """)
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let rows = try await ClusterView(options: options).rows()
            if options.output == "json" {
                try printOutput(rows, format: "json")
            } else {
                for line in ClusterView.table(rows) { print(line) }
            }
            if rows.contains(where: { $0.status == nil }) { throw ExitCode(1) }
        }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check each endpoint's health and readiness (no credential needed).",
            discussion: """
                Asks GET /healthz and GET /readyz of every endpoint (--endpoints or $RAMPART_ENDPOINTS). Healthy: the \
                replica runs and its storage works. Ready: it knows a leader and has applied what it knows committed. Exits 1 \
                when an endpoint is not healthy.
                """)
        @OptionGroup var options: ClientOptions

        struct Row: Encodable {
            var endpoint: String
            var healthy: Bool
            var ready: Bool
            var milliseconds: Int
            var error: String?
        }

        func run() async throws {
            let answers = try await ClusterView.each(options) { client, _ -> (Bool, Bool, Int) in
                let started = ContinuousClock.now
                let health = try await client.send("GET", Endpoint.health.template, body: nil as String?, authorization: nil)
                let readiness = try await client.send("GET", Endpoint.readiness.template, body: nil as String?, authorization: nil)
                let elapsed = started.duration(to: .now).components
                return (health.0 == 200, readiness.0 == 200, Int(elapsed.seconds) * 1000 + Int(elapsed.attoseconds / 1_000_000_000_000_000))
            }
            let rows = answers.map { endpoint, answer in
                switch answer {
                case .success(let (healthy, ready, milliseconds)):
                    return Row(endpoint: endpoint, healthy: healthy, ready: ready, milliseconds: milliseconds)
                case .failure(let error):
                    return Row(endpoint: endpoint, healthy: false, ready: false, milliseconds: 0, error: "\(error)")
                }
            }
            if options.output == "json" {
                try printOutput(rows, format: "json")
            } else {
                for row in rows {
                    let state = row.error.map { "unreachable: \($0)" } ?? "\(row.healthy ? "healthy" : "UNHEALTHY"), \(row.ready ? "ready" : "not ready")"
                    print("\(row.endpoint): \(state)\(row.error == nil ? " (\(row.milliseconds) ms)" : "")")
                }
            }
            if rows.contains(where: { !$0.healthy }) { throw ExitCode(1) }
        }
    }
}
