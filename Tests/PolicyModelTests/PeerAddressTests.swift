@testable import PolicyModel
import Testing

/// The replicated peer address book: what an address may be, how entries are written, moved
/// and removed, and who may change them.
@Suite struct PeerAddressTests {
    @Test func addressesAreHostAndPort() throws {
        let accepted: [(String, String, Int)] = [
            ("127.0.0.1:7004", "127.0.0.1", 7004), ("rampart-4.internal:7001", "rampart-4.internal", 7001),
            ("[::1]:7001", "::1", 7001), ("[fd00::4]:65535", "fd00::4", 65535), ("h:1", "h", 1),
        ]
        for (text, host, port) in accepted {
            let parts = try PeerAddress.parse(text).get()
            #expect(parts.host == host && parts.port == port, "\(text)")
        }
        let refused = [
            "", "127.0.0.1", "127.0.0.1:", ":7001", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:70000000", "host:port",
            "host:+80", "[::1:7001", "[]:7001", "[xyz]:7001", "a b:7001", "-host:7001", ".host:7001", "a..b:7001",
            "host/path:7001", "hôst:7001", "user@host:7001", String(repeating: "a", count: 251) + ":7001",
        ]
        for text in refused {
            guard case .failure(let error) = PeerAddress.parse(text) else {
                Issue.record("\"\(text)\" was accepted")
                continue
            }
            #expect(error.code == "invalid_argument")
        }
    }

    @Test func entriesAreWrittenMovedAndRemoved() {
        var applier = Applier.tenants()
        let added = applier.succeed(.setPeerAddress(replica: 4, address: "127.0.0.1:7004", autoPromote: true))
        #expect(applier.state.peerAddressBook[4] == PeerAddress(replica: 4, address: "127.0.0.1:7004", autoPromote: true, revision: added.revision))
        // Moved: the same replica, another address; the revision guards concurrent moves.
        #expect(applier.apply(.setPeerAddress(replica: 4, address: "127.0.0.1:7014", autoPromote: false), expected: added.revision + 100)
            .rejection?.code == "revision_mismatch")
        let moved = applier.apply(.setPeerAddress(replica: 4, address: "127.0.0.1:7014", autoPromote: false), expected: added.revision)
        #expect(moved.rejection == nil)
        #expect(applier.state.peerAddressBook[4]?.address == "127.0.0.1:7014" && applier.state.peerAddressBook[4]?.autoPromote == false)
        // Two replicas cannot share an address.
        #expect(applier.apply(.setPeerAddress(replica: 5, address: "127.0.0.1:7014", autoPromote: true)).rejection?.code == "already_exists")
        applier.succeed(.removePeerAddress(replica: 4))
        #expect(applier.state.peerAddressBook.isEmpty)
        #expect(applier.apply(.removePeerAddress(replica: 4)).rejection?.code == "not_found")
    }

    @Test func badEntriesAreRefusedAndChangeNothing() {
        var applier = Applier.tenants()
        applier.succeed(.setPeerAddress(replica: 4, address: "127.0.0.1:7004", autoPromote: true))
        let before = applier.state.peerAddressBook
        let cases: [(Command, String)] = [
            (.setPeerAddress(replica: 0, address: "127.0.0.1:7005", autoPromote: true), "invalid_argument"),
            (.setPeerAddress(replica: 5, address: "127.0.0.1", autoPromote: true), "invalid_argument"),
            (.setPeerAddress(replica: 5, address: "bad host:1", autoPromote: true), "invalid_argument"),
            (.setPeerAddress(replica: 5, address: "127.0.0.1:7004", autoPromote: true), "already_exists"),
            (.removePeerAddress(replica: 9), "not_found"),
        ]
        for (command, code) in cases {
            #expect(applier.apply(command).rejection?.code == code, "\(command)")
        }
        #expect(applier.state.peerAddressBook == before)
    }

    @Test func onlyWhoMayChangeTheClusterMayChangeTheBook() {
        var applier = Applier.tenants()
        let alice = principal("acme", "alice")
        applier.succeed(.createBinding(id: id(50), principal: alice, role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))))
        #expect(applier.apply(.setPeerAddress(replica: 4, address: "127.0.0.1:7004", autoPromote: true), actor: alice).rejection?.code == "forbidden")
        applier.succeed(.setPeerAddress(replica: 4, address: "127.0.0.1:7004", autoPromote: true))
        #expect(applier.apply(.removePeerAddress(replica: 4), actor: alice).rejection?.code == "forbidden")
        #expect(applier.state.peerAddressBook[4] != nil)
    }

    @Test func theAuditLogNamesTheReplicaAndItsAddress() {
        let set = Command.setPeerAddress(replica: 4, address: "10.0.0.14:7001", autoPromote: true)
        #expect(set.action == "cluster.peer-address.set" && set.target == "replicas/4 at 10.0.0.14:7001" && set.organization == nil)
        let removed = Command.removePeerAddress(replica: 4)
        #expect(removed.action == "cluster.peer-address.remove" && removed.target == "replicas/4")
        #expect(!set.isClusterOnly && !set.isCreation)
    }
}
