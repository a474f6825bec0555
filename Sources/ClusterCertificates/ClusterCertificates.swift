public import Foundation
import Crypto
public import X509
import SwiftASN1

/// The certificates of a Rampart cluster: a cluster CA, and certificates it issues to replicas
/// (bound to the replica's id) and to clients, built on swift-certificates and swift-crypto
/// (ECDSA P-256). `rampart certs` writes them; `rampart server` checks its own at start.
///
/// A replica's certificate names it in a URI subject alternative name,
/// `rampart://<cluster>/replicas/<id>` (`replicaURI`), besides the DNS names and IP addresses
/// it is reached at, so that a peer can check which replica a certificate was issued to.
public enum ClusterCertificates {
    /// A certificate and its private key, PEM.
    public struct Issued: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String

        /// A certificate and its key.
        public init(certificatePEM: String, privateKeyPEM: String) {
            self.certificatePEM = certificatePEM
            self.privateKeyPEM = privateKeyPEM
        }
    }

    /// What a certificate is issued to.
    public enum Holder: Sendable, Equatable {
        /// Replica `id` of `cluster`, reached at `hosts` (DNS names or IP addresses).
        case replica(id: UInt64, cluster: String, hosts: [String])
        /// A client (a service or an operator), named `name`. With `principal` (`org/name`), the
        /// certificate also names that principal of `cluster`
        /// (`rampart://<cluster>/principals/<org>/<name>`): a replica that accepts client
        /// certificates authenticates its holder as the principal.
        case client(name: String, principal: String? = nil, cluster: String = "rampart")
    }

    /// The longest life a certificate may be given.
    public static let maxValidityDays = 3650 * 2

    /// The URI that binds a client certificate to principal `principal` (`org/name`) of `cluster`.
    public static func principalURI(cluster: String, principal: String) -> String { "rampart://\(cluster)/principals/\(principal)" }

    /// The URI that binds a certificate to replica `id` of `cluster`.
    public static func replicaURI(cluster: String, id: UInt64) -> String { "rampart://\(cluster)/replicas/\(id)" }

    /// A new cluster CA, valid from a minute ago for `days`.
    public static func makeAuthority(cluster: String, days: Int, now: Date = Date()) throws -> Issued {
        try checkDays(days)
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            OrganizationName("Rampart")
            CommonName("\(cluster) cluster CA")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(Double(days) * 86_400), issuer: name,
            subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: privateKey.publicKey)
            },
            issuerPrivateKey: privateKey)
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: try privateKey.serializeAsPEM().pemString)
    }

    /// A certificate for `holder`, signed by the CA `authority`, valid from a minute ago for `days`.
    /// - Throws: `CertificateError` for an unreadable CA, a bad host or name, or a life out of range.
    public static func issue(_ holder: Holder, by authority: Issued, days: Int, now: Date = Date()) throws -> Issued {
        try checkDays(days)
        let caCertificate: Certificate
        let caKey: Certificate.PrivateKey
        do {
            caCertificate = try Certificate(pemEncoded: authority.certificatePEM)
            caKey = try Certificate.PrivateKey(pemEncoded: authority.privateKeyPEM)
        } catch {
            throw CertificateError.unreadable("the CA certificate or key: \(error)")
        }
        guard caKey.publicKey == caCertificate.publicKey else { throw CertificateError.keyMismatch("the CA key does not match the CA certificate") }
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        var names: [GeneralName] = []
        let subject: DistinguishedName
        let usage: ExtendedKeyUsage
        switch holder {
        case .replica(let id, let cluster, let hosts):
            guard id > 0, !hosts.isEmpty else { throw CertificateError.invalid("a replica certificate needs its id and at least one host") }
            names.append(.uniformResourceIdentifier(replicaURI(cluster: cluster, id: id)))
            for host in hosts { names.append(try generalName(host)) }
            subject = try DistinguishedName {
                OrganizationName("Rampart")
                CommonName("\(cluster) replica \(id)")
            }
            // A replica serves clients and peers, and dials peers.
            usage = try ExtendedKeyUsage([.serverAuth, .clientAuth])
        case .client(let name, let principal, let cluster):
            guard !name.isEmpty, name.utf8.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw CertificateError.invalid("a client name is 1 to 64 letters, digits, '-', '_' or '.'")
            }
            if let principal {
                let parts = principal.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 2,
                    parts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && $0.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") } })
                else { throw CertificateError.invalid("a principal is organization/name, each 1 to 63 lowercase letters, digits or '-'") }
                names.append(.uniformResourceIdentifier(principalURI(cluster: cluster, principal: principal)))
            }
            subject = try DistinguishedName {
                OrganizationName("Rampart")
                CommonName(name)
            }
            usage = try ExtendedKeyUsage([.clientAuth])
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            usage
            SubjectKeyIdentifier(hash: privateKey.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            if !names.isEmpty { SubjectAlternativeNames(names) }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: caCertificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: caKey)
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: try privateKey.serializeAsPEM().pemString)
    }

    /// What `check` found: the certificate's subject, its replica binding if any, and when it
    /// expires.
    public struct Checked: Sendable, Equatable {
        public var subject: String
        public var replicaURI: String?
        public var notValidAfter: Date
    }

    /// Checks a certificate and its key as a server loads them: both readable, the key the
    /// certificate's, the certificate valid at `now`, and (with `authority`) signed by that CA.
    /// - Throws: `CertificateError`, saying which check failed.
    public static func check(certificatePEM: String, privateKeyPEM: String, authorityPEM: String?, now: Date = Date()) throws(CertificateError)
        -> Checked
    {
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw CertificateError.unreadable("not a PEM certificate: \(error)")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw CertificateError.unreadable("not a PEM private key: \(error)")
        }
        guard key.publicKey == certificate.publicKey else {
            throw CertificateError.keyMismatch("the private key does not match the certificate")
        }
        guard certificate.notValidBefore <= now else {
            throw CertificateError.notYetValid("the certificate is valid from \(certificate.notValidBefore) only")
        }
        guard now < certificate.notValidAfter else { throw CertificateError.expired("the certificate expired at \(certificate.notValidAfter)") }
        if let authorityPEM {
            let authority: Certificate
            do {
                authority = try Certificate(pemEncoded: authorityPEM)
            } catch {
                throw CertificateError.unreadable("not a PEM CA certificate: \(error)")
            }
            guard certificate.issuer == authority.subject, authority.publicKey.isValidSignature(certificate.signature, for: certificate) else {
                throw CertificateError.notSignedByAuthority("the certificate was not signed by the CA \(authority.subject)")
            }
            guard now < authority.notValidAfter else { throw CertificateError.expired("the CA certificate expired at \(authority.notValidAfter)") }
        }
        return Checked(subject: "\(certificate.subject)", replicaURI: rampartURIs(of: certificate).first, notValidAfter: certificate.notValidAfter)
    }

    /// The replica a certificate is bound to, read from its `rampart://<cluster>/replicas/<id>`
    /// URI; nil when it names none, or more than one (`replicaURI`).
    public static func replicaIdentity(certificatePEM: String) -> (cluster: String, id: UInt64)? {
        guard let certificate = try? Certificate(pemEncoded: certificatePEM) else { return nil }
        return replicaIdentity(of: certificate)
    }

    /// Why the certificate `certificateDER` (a peer's, already verified against the CA) does not
    /// stand for replica `id` of `cluster`, or nil when it does: it must name exactly that
    /// replica, and no other.
    public static func replicaIdentityProblem(certificateDER: [UInt8], cluster: String, id: UInt64) -> String? {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: certificateDER)
        } catch {
            return "the certificate cannot be read: \(error)"
        }
        let uris = rampartURIs(of: certificate).filter { $0.contains("/replicas/") }
        let expected = replicaURI(cluster: cluster, id: id)
        guard !uris.isEmpty else { return "the certificate (\(certificate.subject)) names no replica; it should name \(expected)" }
        guard uris == [expected] else {
            return "the certificate (\(certificate.subject)) names \(uris.joined(separator: ", ")), not \(expected)"
        }
        return nil
    }

    /// The principal a client certificate (a peer's, already verified against the CA) names for
    /// `cluster`, as written in it (`org/name`), with what a replica checks besides: when it
    /// became valid and its SHA-256 fingerprint (what revoking it names).
    public struct ClientIdentity: Sendable, Equatable {
        public var principal: String
        public var notValidBefore: Date
        public var notValidAfter: Date
        public var fingerprint: [UInt8]
    }

    /// The principal the certificate `certificateDER` names for `cluster`.
    /// - Returns: the identity, or why there is none (unreadable, no principal of this cluster,
    ///   or more than one).
    public static func clientIdentity(certificateDER: [UInt8], cluster: String) -> Result<ClientIdentity, CertificateError> {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: certificateDER)
        } catch {
            return .failure(.unreadable("the client certificate cannot be read: \(error)"))
        }
        let prefix = principalURI(cluster: cluster, principal: "")
        let principals = rampartURIs(of: certificate).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
        guard principals.count == 1, let principal = principals.first else {
            return .failure(
                .invalid(
                    principals.isEmpty
                        ? "the client certificate (\(certificate.subject)) names no principal of cluster \(cluster)"
                        : "the client certificate (\(certificate.subject)) names more than one principal"))
        }
        return .success(
            ClientIdentity(
                principal: principal, notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
                fingerprint: Array(SHA256.hash(data: certificateDER))))
    }

    /// The SHA-256 fingerprint of a PEM certificate (what `POST /v1/tokens/revoke` takes to
    /// revoke a client certificate), and when it expires.
    public static func fingerprint(certificatePEM: String) throws(CertificateError) -> (fingerprint: [UInt8], notValidAfter: Date, principal: String?) {
        let certificate: Certificate
        let der: [UInt8]
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            der = serializer.serializedBytes
        } catch {
            throw .unreadable("not a PEM certificate: \(error)")
        }
        let principal = rampartURIs(of: certificate).first { $0.contains("/principals/") }.flatMap { uri in
            uri.range(of: "/principals/").map { String(uri[$0.upperBound...]) }
        }
        return (Array(SHA256.hash(data: der)), certificate.notValidAfter, principal)
    }

    private static func replicaIdentity(of certificate: Certificate) -> (cluster: String, id: UInt64)? {
        let uris = rampartURIs(of: certificate).filter { $0.contains("/replicas/") }
        guard uris.count == 1, let uri = uris.first else { return nil }
        let rest = uri.dropFirst("rampart://".count)
        guard let slash = rest.range(of: "/replicas/") else { return nil }
        let cluster = String(rest[rest.startIndex..<slash.lowerBound])
        guard !cluster.isEmpty, let id = UInt64(rest[slash.upperBound...]), id > 0, uri == replicaURI(cluster: cluster, id: id) else { return nil }
        return (cluster, id)
    }

    private static func rampartURIs(of certificate: Certificate) -> [String] {
        ((try? certificate.extensions.subjectAlternativeNames) ?? nil)?.compactMap { name -> String? in
            if case .uniformResourceIdentifier(let text) = name, text.hasPrefix("rampart://") { return text }
            return nil
        } ?? []
    }

    private static func checkDays(_ days: Int) throws {
        guard (1...maxValidityDays).contains(days) else { throw CertificateError.invalid("a certificate lives 1 to \(maxValidityDays) days") }
    }

    /// A host as a subject alternative name: an IPv4 or IPv6 address, or a DNS name.
    static func generalName(_ host: String) throws -> GeneralName {
        if let address = IPAddressBytes(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address.bytes))) }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard !host.isEmpty, host.utf8.count <= 253,
            labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } })
        else { throw CertificateError.invalid("\(host) is neither an IP address nor a DNS name") }
        return .dnsName(host)
    }
}

/// An IP address's bytes, parsed from text (`inet_pton`).
struct IPAddressBytes {
    let bytes: [UInt8]

    init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }
}

/// Why a certificate was refused or could not be made.
public enum CertificateError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case keyMismatch(String)
    case notYetValid(String)
    case expired(String)
    case notSignedByAuthority(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unreadable(let text), .keyMismatch(let text), .notYetValid(let text), .expired(let text), .notSignedByAuthority(let text),
            .invalid(let text):
            return text
        }
    }
}
