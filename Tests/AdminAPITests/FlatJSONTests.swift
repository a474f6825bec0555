import Foundation
import Testing

@testable import AdminAPI
import APIModels

@Suite struct FlatJSONTests {
    private func parse(_ text: String) -> [(key: String, value: FlatJSON.Value)]? {
        Array(text.utf8).withUnsafeBytes { FlatJSON.parseObject($0) }
    }

    @Test func readsFlatObjectsOfStringsBooleansAndNull() throws {
        let fields = try #require(parse(" {\"a\" : \"x y\",\n\"b\":true,\t\"c\":false,\r\"d\":null, \"é\":\"ü\"} "))
        #expect(fields.map(\.key) == ["a", "b", "c", "d", "é"])
        #expect(fields.map(\.value) == [.string("x y"), .bool(true), .bool(false), .null, .string("ü")])
        #expect(try #require(parse("{}")).isEmpty)
        #expect(try #require(parse("{\"a\":\"\"}")).first?.value == .string(""))
    }

    /// Everything outside the subset gives nil, so the general decoder reads it and words the error.
    @Test(arguments: [
        "", " ", "[]", "\"a\"", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":\"x\",}", "{,}", "{\"a\":\"x\" \"b\":\"y\"}",
        "{\"a\":1}", "{\"a\":-1.5}", "{\"a\":[]}", "{\"a\":{}}", "{\"a\":\"x\\\"y\"}", "{\"a\":\"x\\u0041\"}", "{\"a\":\"x\ny\"}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":\"x\"} x", "{\"a\":\"x\"}{}", "{a:\"x\"}", "{'a':'x'}",
        "{\"a\":\"x\",\"a\":\"y\"}", "{\"a\":\"x", "{\"a",
    ])
    func refusesWhatItDoesNotHandle(_ text: String) {
        #expect(parse(text) == nil, "\(text)")
    }

    @Test func refusesInvalidUTF8AndTooManyFields() {
        #expect([UInt8](#"{"a":"\#u{0}"}"#.utf8).withUnsafeBytes { FlatJSON.parseObject($0) } == nil)
        let invalid: [UInt8] = Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(invalid.withUnsafeBytes { FlatJSON.parseObject($0) } == nil)
        let many = "{" + (0...FlatJSON.maxFields).map { "\"k\($0)\":null" }.joined(separator: ",") + "}"
        #expect(parse(many) == nil)
        let enough = "{" + (1...FlatJSON.maxFields).map { "\"k\($0)\":null" }.joined(separator: ",") + "}"
        #expect(parse(enough)?.count == FlatJSON.maxFields)
    }

    /// What it accepts, Foundation's parser reads as the same object.
    @Test func agreesWithFoundationOnWhatItAccepts() throws {
        let samples = [
            #"{"principal":"acme/dev","permission":"compute.instances.create","organization":"acme","project":"web"}"#,
            #"{"principal":"acme/dev","project":null,"flag":true,"other":false}"#, " { \"ünï\" : \"cödé\" } ",
        ]
        for sample in samples {
            let fields = try #require(parse(sample))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(sample.utf8)) as? [String: Any])
            #expect(object.count == fields.count)
            for (key, value) in fields {
                switch value {
                case .string(let text): #expect(object[key] as? String == text)
                case .bool(let flag): #expect(object[key] as? Bool == flag)
                case .null: #expect(object[key] is NSNull)
                }
            }
        }
    }

    /// Bodies decode as `JSONDecoder` decodes them; what it cannot decode alone gives nil.
    @Test func decodesRequestBodiesAsJSONDecoderDoes() throws {
        func flat<Body: APIRequestBody>(_ type: Body.Type, _ text: String) -> Body? {
            Array(text.utf8).withUnsafeBytes { FlatJSON.decode(type, from: $0) }
        }
        func foundation<Body: APIRequestBody>(_ type: Body.Type, _ text: String) throws -> Body {
            try JSONDecoder().decode(type, from: Data(text.utf8))
        }
        for text in [#"{"principal":"a/b","role":"org.admin"}"#, #"{"principal":"a/b","role":"r","project":"web"}"#,
                     #"{"principal":"a/b","role":"r","project":null}"#] {
            let decoded = try #require(flat(CreateBindingRequest.self, text))
            let expected = try foundation(CreateBindingRequest.self, text)
            #expect(decoded.principal == expected.principal && decoded.role == expected.role && decoded.project == expected.project)
        }
        for text in [#"{"suspended":true}"#, #"{"suspended":false}"#] {
            #expect(flat(UpdateOrganizationRequest.self, text)?.suspended == (try foundation(UpdateOrganizationRequest.self, text)).suspended)
        }
        let question = try #require(flat(AuthorizeRequest.self, #"{"principal":"a/b","permission":"x.y.z","organization":"a"}"#))
        #expect(question.principal == "a/b" && question.permission == "x.y.z" && question.organization == "a" && question.project == nil)
        // Left to the general decoder: an unknown key, a missing field, a wrong type, a number.
        #expect(flat(CreatePrincipalRequest.self, #"{"name":"n","kind":"user","extra":"x"}"#) == nil)
        #expect(flat(CreatePrincipalRequest.self, #"{"name":"n"}"#) == nil)
        #expect(flat(CreatePrincipalRequest.self, #"{"name":true,"kind":"user"}"#) == nil)
        #expect(flat(CreatePrincipalRequest.self, #"{"name":null,"kind":"user"}"#) == nil)
        #expect(flat(UpdateOrganizationRequest.self, #"{"suspended":"yes"}"#) == nil)
        #expect(flat(MembershipRequest.self, #"{"action":"promote","replica":2}"#) == nil)
    }
}

/// The answer writer: what it writes must read back as what `JSONEncoder` writes, and anything
/// it does not handle must give nil (the caller then uses `JSONEncoder`).
@Suite struct FlatJSONWriterTests {
    /// Both encodings as JSON values, to compare them field by field.
    private func both(_ value: some Encodable) throws -> (flat: NSDictionary, encoder: NSDictionary) {
        let flat = try #require(FlatJSONWriter.encode(value), "the writer refused \(value)")
        let object = try JSONSerialization.jsonObject(with: Data(flat))
        let expected = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
        return (try #require(object as? NSDictionary), try #require(expected as? NSDictionary))
    }

    @Test func writesAnswersAsJSONEncoderDoes() throws {
        let values: [any Encodable] = [
            OrganizationResponse(name: "acme", suspended: true, revision: 7),
            ProjectResponse(organization: "acme", name: "web", revision: .max),
            PrincipalResponse(organization: "acme", name: "ci", kind: "service_account", revision: 0),
            RevisionResponse(revision: 12),
            AuthorizeResponse(allowed: false, binding: nil, reason: "noMatchingBinding", revision: 3),
            AuthorizeResponse(allowed: true, binding: "00ff", reason: nil, revision: 4),
            BindingResponse(id: "ab", principal: "acme/ci", role: "org.viewer", scope: "orgs/acme", revision: 9),
        ]
        for value in values {
            let (flat, encoder) = try both(value)
            #expect(flat == encoder, "\(value)")
        }
    }

    /// Quotes, backslashes, control characters, slashes and non-ASCII text survive the round trip.
    @Test func escapesStrings() throws {
        let texts = ["plain", "", "quote \" backslash \\ slash /", "line\nfeed\rtab\tbell\u{07}nul\u{00}esc\u{1B}", "é ü 日本 🎉", "\u{7F}\u{1F}"]
        for text in texts {
            let value = ProjectResponse(organization: text, name: "n", revision: 1)
            let bytes = try #require(FlatJSONWriter.encode(value))
            #expect(try JSONDecoder().decode(ProjectResponse.self, from: Data(bytes)) == value, "\(text)")
        }
    }

    @Test func writesEveryIntegerWidth() throws {
        struct Integers: Encodable {
            var a = Int.min, b = Int8.min, c = Int16.max, d = Int32.min, e = Int64.max
            var f = UInt.max, g = UInt8.max, h = UInt16.max, i = UInt32.max, j = UInt64.max
        }
        let (flat, encoder) = try both(Integers())
        #expect(flat == encoder)
    }

    /// Nested values, arrays, floating point, bare values, explicit nulls and enums are refused.
    @Test func refusesWhatItDoesNotHandle() {
        struct Nested: Encodable { var inner = RevisionResponse(revision: 1) }
        struct Listed: Encodable { var items = [1, 2] }
        struct Floating: Encodable { var x = 1.5 }
        struct ExplicitNull: Encodable {
            enum CodingKeys: String, CodingKey { case x }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encodeNil(forKey: .x)
            }
        }
        struct WithEnum: Encodable {
            enum Kind: String, Encodable { case a }
            var kind = Kind.a
        }
        #expect(FlatJSONWriter.encode(Nested()) == nil)
        #expect(FlatJSONWriter.encode(Listed()) == nil)
        #expect(FlatJSONWriter.encode(Floating()) == nil)
        #expect(FlatJSONWriter.encode(ExplicitNull()) == nil)
        #expect(FlatJSONWriter.encode(WithEnum()) == nil)
        #expect(FlatJSONWriter.encode("bare") == nil)
        #expect(FlatJSONWriter.encode([1, 2]) == nil)
        #expect(FlatJSONWriter.encode(ListResponse(items: [RevisionResponse(revision: 1)], nextCursor: nil, revision: 1)) == nil)
    }
}
