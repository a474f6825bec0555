/// A replica's entry in the replicated peer address book: where its peers reach it. The book is
/// part of the policy state, so every replica, and a replica that joins later (by snapshot or
/// log), learns a member's address from the log itself, with no restart and no configuration
/// change; the static `peers` of a replica's configuration name the founding members only, and
/// an entry here overrides them.
public struct PeerAddress: Hashable, Sendable {
    /// The longest address accepted, in bytes.
    public static let maxBytes = 255

    /// The replica.
    public var replica: UInt64
    /// `host:port` (an IPv6 host in brackets).
    public var address: String
    /// Whether the leader promotes the replica to a voter on its own once it has caught up
    /// and stayed so for a while; false keeps it a learner until promoted by hand.
    public var autoPromote: Bool
    /// The revision that last wrote it.
    public var revision: UInt64

    /// Creates an entry.
    public init(replica: UInt64, address: String, autoPromote: Bool, revision: UInt64) {
        self.replica = replica
        self.address = address
        self.autoPromote = autoPromote
        self.revision = revision
    }

    /// Splits `host:port` into its host (brackets removed) and port, or explains why it is not
    /// one: the host is a DNS name or an IPv4 address, or an IPv6 address in brackets, the port
    /// 1 to 65535, and the whole at most `maxBytes` printable ASCII bytes. The state machine
    /// refuses an entry this refuses, so every replica agrees on what the book may hold.
    public static func parse(_ address: String) -> Result<(host: String, port: Int), PolicyError> {
        let invalid = { (why: String) in Result<(host: String, port: Int), PolicyError>.failure(.invalidArgument("peer address \"\(address)\" \(why)")) }
        guard !address.isEmpty, address.utf8.count <= maxBytes else { return invalid("must be 1 to \(maxBytes) bytes") }
        guard let colon = address.lastIndex(of: ":") else { return invalid("must be host:port") }
        var host = String(address[..<colon])
        let portText = address[address.index(after: colon)...]
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
            (1...65535).contains(port)
        else { return invalid("must end in a port from 1 to 65535") }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return invalid("has an unclosed IPv6 bracket") }
            host = String(host.dropFirst().dropLast())
            guard host.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }), host.contains(":") else {
                return invalid("has an invalid IPv6 host")
            }
            return .success((host, port))
        }
        guard !host.isEmpty else { return invalid("has no host") }
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }),
            !host.hasPrefix("-"), !host.hasPrefix("."), !host.contains("..")
        else { return invalid("has an invalid host (a DNS name, an IPv4 address, or an IPv6 address in brackets)") }
        return .success((host, port))
    }
}

extension PolicyState {
    /// Puts back the peer address book read from the durable copy (nothing is journaled).
    public mutating func restorePeerAddresses(_ entries: [PeerAddress]) {
        for entry in entries { peerAddresses[entry.replica] = entry }
    }
}
