@testable import PolicyModel
import Testing

/// `ShardedDictionary` holds what a `Dictionary` fed the same operations holds: a differential
/// run of inserts, replacements, removals and defaulted updates, checked entry by entry and
/// through every way of reading it.
@Suite struct ShardedDictionaryTests {
    @Test func holdsWhatADictionaryHoldsAfterTheSameOperations() {
        var generator = SplitMix(state: 7)
        var sharded = ShardedDictionary<PrincipalReference, Int>()
        var reference: [PrincipalReference: Int] = [:]
        #expect(sharded.isEmpty && sharded.count == 0)
        for step in 0..<20_000 {
            let number = Int.random(in: 0..<3_000, using: &generator)
            let key = principal("o\(number % 7)", "k\(number)")
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                #expect(sharded.updateValue(step, forKey: key) == reference.updateValue(step, forKey: key))
            case 1:
                #expect(sharded.removeValue(forKey: key) == reference.removeValue(forKey: key))
            case 2:
                sharded[key, default: 0] += 1
                reference[key, default: 0] += 1
            default:
                sharded[key] = nil
                reference[key] = nil
            }
            #expect(sharded[key] == reference[key])
        }
        #expect(sharded.count == reference.count)
        #expect(Dictionary(uniqueKeysWithValues: sharded.map { ($0.key, $0.value) }) == reference)
        #expect(Set(sharded.keys) == Set(reference.keys) && sharded.keys.count == reference.count)
        #expect(sharded.values.sorted() == reference.values.sorted())
        for key in reference.keys { sharded[key] = nil }
        #expect(sharded.isEmpty && Array(sharded).isEmpty)
    }

    /// Keys made in series (names with a counter, ids with a sequence number) spread over the
    /// shards: none holds more than twice its share.
    @Test func keysMadeInSeriesSpreadOverTheShards() {
        var principals = ShardedDictionary<PrincipalReference, Int>()
        var ids = ShardedDictionary<EntityID, Int>()
        for number in 0..<64_000 {
            principals[principal("bench", "pbench-0-\(number)")] = number
            ids[EntityID(high: 1, low: UInt64(number))] = number
        }
        for sizes in [principals.shardSizes, ids.shardSizes] {
            #expect(sizes.count == 64 && sizes.reduce(0, +) == 64_000)
            #expect(sizes.max()! <= 2_000, "\(sizes)")
        }
    }
}
