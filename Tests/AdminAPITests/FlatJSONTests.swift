import Foundation
import Testing

@testable import AdminAPI

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
