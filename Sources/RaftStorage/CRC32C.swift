/// CRC-32C (Castagnoli), the checksum of every log record. Table-driven, standard library only.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The checksum of `bytes[range]`, continuing from `seed` (0 to start).
    static func checksum(_ bytes: [UInt8], _ range: Range<Int>, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        bytes.withUnsafeBufferPointer { buffer in
            for index in range {
                crc = table[Int((crc ^ UInt32(buffer[index])) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }
}
