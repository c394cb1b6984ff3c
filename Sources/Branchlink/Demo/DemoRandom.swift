import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator whose output depends only
/// on the seed, on every platform and Swift version. The demo generator uses it so that the same
/// `--seed` always produces the same organizations and members (SystemRandomNumberGenerator cannot
/// be seeded).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// An independent stream derived from `seed` and a list of stream numbers (province index,
    /// purpose, …), so that adding a province or a member never shifts another stream.
    public init(seed: UInt64, stream: UInt64...) {
        var s = SplitMix64(seed: seed)
        var mixed = s.next()
        for v in stream {
            s = SplitMix64(seed: mixed ^ (v &* 0x9E37_79B9_7F4A_7C15))
            mixed = s.next()
        }
        state = mixed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<n` (n > 0), by Lemire's multiply-shift (bias below 2⁻³² for the small n used here).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: next() >> 32)) &* UInt64(n)) >> 32)
    }

    /// Uniform in `range`.
    @inline(__always)
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// True with probability `p`.
    @inline(__always)
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// A version-4 UUID made of generator bits (deterministic for a seed).
    public mutating func uuid() -> UUID {
        let a = next(), b = next()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: a >> (56 - 8 * UInt64(i)))
            bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (56 - 8 * UInt64(i)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// Picks items with given relative weights in O(log n) (cumulative table + binary search).
public struct WeightedTable<Element>: Sendable where Element: Sendable {
    public let items: [Element]
    private let cumulative: [Double]

    public init(_ pairs: [(Element, Double)]) {
        precondition(!pairs.isEmpty, "a weighted table needs at least one item")
        var total = 0.0
        var cum: [Double] = []
        cum.reserveCapacity(pairs.count)
        for (_, w) in pairs {
            precondition(w >= 0, "weights are non-negative")
            total += w
            cum.append(total)
        }
        precondition(total > 0, "at least one weight must be positive")
        items = pairs.map(\.0)
        cumulative = cum.map { $0 / total }
    }

    public func pick(_ rng: inout SplitMix64) -> Element { items[pickIndex(&rng)] }

    public func pickIndex(_ rng: inout SplitMix64) -> Int {
        let u = rng.unit()
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

extension UUID {
    /// Lowercase canonical text, without Foundation's string formatting (hot in bulk generation).
    var demoText: String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: uuid) { raw -> String in
            String(unsafeUninitializedCapacity: 36) { out in
                var j = 0
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 { out[j] = UInt8(ascii: "-"); j += 1 }
                    out[j] = hex[Int(raw[i] >> 4)]
                    out[j + 1] = hex[Int(raw[i] & 0x0F)]
                    j += 2
                }
                return j
            }
        }
    }

    /// ltree label of this organization, as SQL's `org_label(id)`: "o" + the hex digits.
    var orgLabel: String { "o" + demoText.replacingOccurrences(of: "-", with: "") }
}
