@testable import PolicyModel
import Testing

@Suite struct NamesAndPermissionsTests {
    @Test(arguments: ["a", "acme", "acme-corp", "a1", String(repeating: "x", count: 63)])
    func validNameIsAccepted(_ text: String) throws {
        #expect(try Name(text).value == text)
    }

    @Test(arguments: ["", "Acme", "1acme", "-acme", "acme-", "acme_corp", "acme.corp", "ac me", "é", String(repeating: "x", count: 64)])
    func invalidNameIsRejected(_ text: String) {
        #expect(throws: PolicyError.invalidName(text)) { try Name(text) }
    }

    @Test(arguments: ["compute.instances.create", "iam.audit.read", "*.*.*", "compute.*.get", "a-b.c1.d"])
    func validPermissionIsAccepted(_ text: String) throws {
        #expect(try Permission(text).description == text)
    }

    @Test(arguments: [
        "compute.instances", "compute.instances.create.now", "Compute.x.y", "compute..get", "compute.*x.get", "", "a.b.c d",
        "compute.instances.", ".instances.create", "compute.instances.create.", "*", "**.a.b", "a.b.é", "a.b.c\u{0}", "...",
        "a-.b.c" + String(repeating: "x", count: 300),
    ])
    func invalidPermissionIsRejected(_ text: String) {
        #expect(throws: PolicyError.invalidPermission(text)) { try Permission(text) }
    }

    @Test func wildcardsAreRefusedWhereAConcretePermissionIsNeeded() {
        #expect(throws: PolicyError.invalidPermission("compute.*.get")) { try Permission("compute.*.get", allowWildcards: false) }
    }

    @Test(arguments: [
        ("*.*.*", "compute.instances.create", true),
        ("compute.*.*", "compute.disks.delete", true),
        ("compute.instances.*", "compute.instances.delete", true),
        ("compute.instances.*", "compute.disks.delete", false),
        ("*.*.get", "storage.buckets.get", true),
        ("*.*.get", "storage.buckets.list", false),
        ("compute.instances.create", "compute.instances.create", true),
        ("compute.instances.create", "network.instances.create", false),
    ])
    func wildcardSegmentsMatchEveryValueOfTheirSegment(granted: String, requested: String, expected: Bool) throws {
        #expect(try Permission(granted).grants(Permission(requested, allowWildcards: false)) == expected)
    }

    @Test func entityIDRoundTripsThroughHex() throws {
        let original = EntityID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        #expect(original.description == "0123456789abcdeffedcba9876543210")
        #expect(try EntityID(hex: original.description) == original)
        #expect(throws: PolicyError.self) { try EntityID(hex: "xyz") }
        #expect(throws: PolicyError.self) { try EntityID(hex: String(repeating: "G", count: 32)) }
    }
}
