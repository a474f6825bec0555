import ArgumentParser
import ClusterCertificates
import Foundation

/// `rampart certs ...`: the cluster's CA and the certificates it issues (offline; nothing is
/// sent anywhere). Private keys are written mode 0600, and no file is ever overwritten.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Make the cluster's CA and the TLS certificates of replicas and clients (offline).",
        subcommands: [Init.self, Issue.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a cluster CA: DIR/ca.pem and DIR/ca-key.pem (mode 0600).")
        @Option(help: "The folder to write to (made if missing).") var dir: String
        @Option(help: "The cluster's name, written into replica certificates.") var cluster = "rampart"
        @Option(help: "Days the CA is valid.") var days = 3650

        func run() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for file in ["ca.pem", "ca-key.pem"] where FileManager.default.fileExists(atPath: "\(dir)/\(file)") {
                throw CommandFailure("\(dir)/\(file) exists: not overwritten")
            }
            let authority = try ClusterCertificates.makeAuthority(cluster: cluster, days: days)
            try SecureFile.create(dir + "/ca-key.pem", contents: authority.privateKeyPEM)
            try write(dir + "/ca.pem", authority.certificatePEM)
            print("cluster CA written to \(dir)/ca.pem (key \(dir)/ca-key.pem, mode 0600), valid \(days) days")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a replica's certificate (--replica N --host ...) or a client's (--client NAME), signed by DIR's CA.")
        @Option(help: "The folder holding ca.pem and ca-key.pem; the certificate is written there.") var dir: String
        @Option(help: "The replica's id: its certificate names it (rampart://CLUSTER/replicas/N).") var replica: UInt64?
        @Option(help: "A DNS name or IP address the replica is reached at; repeat for several.") var host: [String] = []
        @Option(help: "A client's name (a service or an operator).") var client: String?
        @Option(
            help: "With --client: the principal (ORG/NAME) the certificate authenticates as, on replicas that accept client certificates.")
        var principal: String?
        @Option(help: "The cluster's name (as given to `certs init`).") var cluster = "rampart"
        @Option(help: "Days the certificate is valid.") var days = 365

        func run() throws {
            let holder: ClusterCertificates.Holder
            let name: String
            switch (replica, client) {
            case (let id?, nil):
                guard !host.isEmpty else { throw ValidationError("a replica's certificate needs at least one --host") }
                guard principal == nil else { throw ValidationError("--principal is for clients") }
                holder = .replica(id: id, cluster: cluster, hosts: host)
                name = "replica-\(id)"
            case (nil, let client?):
                guard host.isEmpty else { throw ValidationError("--host is for replicas") }
                holder = .client(name: client, principal: principal, cluster: cluster)
                name = "client-\(client)"
            default:
                throw ValidationError("give --replica N (with --host) or --client NAME")
            }
            guard let certificate = FileManager.default.contents(atPath: dir + "/ca.pem"),
                let key = FileManager.default.contents(atPath: dir + "/ca-key.pem")
            else { throw CommandFailure("cannot read \(dir)/ca.pem and \(dir)/ca-key.pem (make them with `rampart certs init`)") }
            let authority = ClusterCertificates.Issued(
                certificatePEM: String(decoding: certificate, as: UTF8.self), privateKeyPEM: String(decoding: key, as: UTF8.self))
            for file in ["\(name).pem", "\(name)-key.pem"] where FileManager.default.fileExists(atPath: "\(dir)/\(file)") {
                throw CommandFailure("\(dir)/\(file) exists: not overwritten")
            }
            let issued: ClusterCertificates.Issued
            do {
                issued = try ClusterCertificates.issue(holder, by: authority, days: days)
            } catch let error as CertificateError {
                throw ValidationError("\(error)")
            }
            try SecureFile.create("\(dir)/\(name)-key.pem", contents: issued.privateKeyPEM)
            try write("\(dir)/\(name).pem", issued.certificatePEM)
            print("\(name) certificate written to \(dir)/\(name).pem (key \(dir)/\(name)-key.pem, mode 0600), valid \(days) days")
        }
    }
}

/// Writes a new, public file (never overwriting one).
private func write(_ path: String, _ contents: String) throws {
    guard !FileManager.default.fileExists(atPath: path) else { throw CommandFailure("\(path) exists: not overwritten") }
    guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o644]) else {
        throw CommandFailure("cannot write \(path)")
    }
}
