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
}
