import Foundation
import Postgres

#if canImport(Glibc)
import Glibc
#endif

/// Appends JSON straight to bytes, for the hottest resources (a member is read far more often than
/// anything else is written): JSONEncoder with its key conversion costs tens of microseconds per
/// object. Writes the same values with the same escapes as `JSONOutput.encode` (PrincipalCacheTests
/// compares them); keys come in declaration order, where JSONEncoder on Linux uses hash order.
public struct JSONBytes {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    /// Literal JSON punctuation and keys, e.g. `"{\"id\":"`.
    @inline(__always) public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func null() { raw("null") }

    public mutating func int(_ v: Int) { bytes.append(contentsOf: String(v).utf8) }

    /// A JSON string with JSONEncoder's escapes (`/` left alone: `.withoutEscapingSlashes`).
    public mutating func string(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            case 0x08: bytes.append(0x5C); bytes.append(0x62)
            case 0x0C: bytes.append(0x5C); bytes.append(0x66)
            case 0..<0x20:
                raw("\\u00")
                bytes.append(Self.hex[Int(b >> 4)]); bytes.append(Self.hex[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    public mutating func string(_ s: String?) { if let s { string(s) } else { null() } }

    /// Lowercase canonical UUID, as `UUID.lower`.
    public mutating func uuid(_ u: UUID) {
        bytes.append(0x22)
        withUnsafeBytes(of: u.uuid) { raw in
            for (i, b) in raw.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { bytes.append(0x2D) }
                bytes.append(Self.hex[Int(b >> 4)]); bytes.append(Self.hex[Int(b & 0xF)])
            }
        }
        bytes.append(0x22)
    }

    public mutating func uuid(_ u: UUID?) { if let u { uuid(u) } else { null() } }

    /// `"YYYY-MM-DD"`, as `PGDate.iso8601`.
    public mutating func date(_ d: PGDate) {
        guard d.year >= 0, d.year <= 9999 else { return string(d.iso8601) }
        bytes.append(0x22)
        digits(d.year, 4); bytes.append(0x2D); digits(d.month, 2); bytes.append(0x2D); digits(d.day, 2)
        bytes.append(0x22)
    }

    public mutating func date(_ d: PGDate?) { if let d { date(d) } else { null() } }

    /// `"2026-11-23T13:12:18.123456Z"`, as `Timestamp.rfc3339`.
    public mutating func timestamp(_ date: Date) {
        let t = date.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        var micros = Int(((t - Double(secs)) * 1_000_000).rounded())
        if micros >= 1_000_000 { secs += 1; micros -= 1_000_000 }
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        let year = Int(tmv.tm_year) + 1900
        guard year >= 1000, year <= 9999 else { return string(Timestamp.rfc3339(date)) }
        bytes.append(0x22)
        digits(year, 4); bytes.append(0x2D); digits(Int(tmv.tm_mon) + 1, 2); bytes.append(0x2D); digits(Int(tmv.tm_mday), 2)
        bytes.append(0x54)
        digits(Int(tmv.tm_hour), 2); bytes.append(0x3A); digits(Int(tmv.tm_min), 2); bytes.append(0x3A); digits(Int(tmv.tm_sec), 2)
        bytes.append(0x2E); digits(micros, 6); bytes.append(0x5A)
        bytes.append(0x22)
    }

    /// `v` (non-negative) in exactly `width` decimal digits, zero-padded.
    private mutating func digits(_ v: Int, _ width: Int) {
        var div = 1
        for _ in 1..<width { div *= 10 }
        var v = v
        while div > 0 {
            bytes.append(0x30 + UInt8(v / div % 10))
            v %= div
            div /= 10
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
