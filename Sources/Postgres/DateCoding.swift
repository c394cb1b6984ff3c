import Foundation

/// A calendar date (SQL `date`), without time or time zone. Codable as "YYYY-MM-DD".
public struct PGDate: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Creates a date; month and day must form a valid Gregorian date (nil otherwise).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= PGDate.daysIn(month: month, year: year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days since 2000-01-01 (PostgreSQL's epoch).
    public init(daysSince2000 days: Int) {
        let (y, m, d) = CivilCalendar.civil(fromDaysSince1970: days + CivilCalendar.pgEpochDays)
        self.year = y
        self.month = m
        self.day = d
    }

    /// Parses "YYYY-MM-DD".
    public init?(_ description: String) {
        let parts = description.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count >= 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The calendar date of `date` in `timeZone` (default Asia/Ho_Chi_Minh is the service's zone).
    public init(_ date: Date, timeZone: TimeZone) {
        let seconds = Int((date.timeIntervalSince1970 + Double(timeZone.secondsFromGMT(for: date))).rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        self.init(daysSince2000: days - CivilCalendar.pgEpochDays)
    }

    /// Today in the given time zone.
    public static func today(in timeZone: TimeZone) -> PGDate { PGDate(Date(), timeZone: timeZone) }

    public var daysSince2000: Int {
        CivilCalendar.daysSince1970(year: year, month: month, day: day) - CivilCalendar.pgEpochDays
    }

    public func adding(days: Int) -> PGDate { PGDate(daysSince2000: daysSince2000 + days) }

    /// Days from `self` to `other` (positive when `other` is later).
    public func days(to other: PGDate) -> Int { other.daysSince2000 - daysSince2000 }

    /// "YYYY-MM-DD".
    public var iso8601: String {
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return (year < 0 ? "-" + pad(-year, 4) : pad(year, 4)) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }
    public var description: String { iso8601 }

    /// Midnight UTC of this date.
    public var dateAtMidnightUTC: Date {
        Date(timeIntervalSince1970: Double(daysSince2000 + CivilCalendar.pgEpochDays) * 86_400)
    }

    public static func < (a: PGDate, b: PGDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let d = PGDate(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected YYYY-MM-DD, got \(s)"))
        }
        self = d
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(iso8601)
    }
}

enum CivilCalendar {
    /// 2000-01-01 as days since 1970-01-01.
    static let pgEpochDays = 10_957

    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDaysSince1970 days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

extension PGDate: PostgresArrayElement {
    public var postgresType: PostgresType { .date }
    public func encode(into buffer: inout [UInt8]) throws {
        guard let d = Int32(exactly: daysSince2000) else { throw PostgresEncodingError("date \(self) out of range") }
        buffer.appendBE(d)
    }
    public static func decode(from value: PostgresValue) throws -> PGDate {
        if value.format == .binary {
            switch value.type {
            case .date:
                guard value.count == 4 else { throw PostgresDecodingFailure.invalidValue("date of \(value.count) bytes") }
                let d = value.readBE(Int32.self)
                guard d != Int32.max && d != Int32.min else {
                    throw PostgresDecodingFailure.invalidValue("infinite date")
                }
                return PGDate(daysSince2000: Int(d))
            case .text, .varchar, .unknown:
                break
            default:
                throw PostgresDecodingFailure.mismatch(PGDate.self, value)
            }
        }
        let s = value.string
        guard let d = PGDate(s) else { throw PostgresDecodingFailure.invalidValue("\"\(s)\" is not YYYY-MM-DD") }
        return d
    }
    public static var postgresElementType: PostgresType { .date }
    public static var postgresArrayType: PostgresType { .dateArray }
}

enum TimestampCoding {
    /// Seconds from 2001-01-01 (Foundation's reference date) to 2000-01-01 (PostgreSQL's epoch).
    static let pgEpochFromReference: Double = -31_622_400

    @inline(__always) static func micros(_ date: Date) -> Int64 {
        Int64(((date.timeIntervalSinceReferenceDate - pgEpochFromReference) * 1_000_000).rounded())
    }

    @inline(__always) static func date(micros: Int64) -> Date {
        // Split to keep full precision: whole seconds exactly, then the fraction.
        let (q, r) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        return Date(timeIntervalSinceReferenceDate: Double(q) + pgEpochFromReference + Double(r) / 1_000_000)
    }

    static func decodeMicros(_ value: PostgresValue) throws -> Int64 {
        if value.format == .binary {
            switch value.type {
            case .timestamptz, .timestamp:
                guard value.count == 8 else { throw PostgresDecodingFailure.invalidValue("timestamp of \(value.count) bytes") }
                let v = value.readBE(Int64.self)
                guard v != Int64.max && v != Int64.min else { throw PostgresDecodingFailure.invalidValue("infinite timestamp") }
                return v
            case .date:
                return Int64(try PGDate.decode(from: value).daysSince2000) * 86_400_000_000
            case .text, .varchar, .unknown:
                break
            default:
                throw PostgresDecodingFailure.mismatch(Date.self, value)
            }
        }
        guard let v = parseText(value.string) else {
            throw PostgresDecodingFailure.invalidValue("\"\(value.string)\" is not an ISO timestamp")
        }
        return v
    }

    /// Parses "YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z|±HH[:MM[:SS]]]" (PostgreSQL ISO output) to
    /// microseconds since 2000-01-01 UTC. No offset means UTC.
    static func parseText(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        var i = 0
        func num(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let d = Int(b[i + k]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                v = v * 10 + d
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let y = num(4), expect(UInt8(ascii: "-")), let mo = num(2), expect(UInt8(ascii: "-")), let d = num(2) else { return nil }
        var h = 0, mi = 0, sec = 0, frac: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "T") {
            i += 1
            guard let hh = num(2), expect(UInt8(ascii: ":")), let mm = num(2), expect(UInt8(ascii: ":")), let ss = num(2) else { return nil }
            h = hh; mi = mm; sec = ss
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                var digits = 0
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    if digits < 6 { frac = frac * 10 + Int64(b[i] - 48) }
                    digits += 1
                    i += 1
                }
                while digits < 6 { frac *= 10; digits += 1 }
            }
        }
        var offset = 0
        if i < b.count {
            if b[i] == UInt8(ascii: "Z") {
                i += 1
            } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = num(2) else { return nil }
                var om = 0, os = 0
                if expect(UInt8(ascii: ":")) { guard let v = num(2) else { return nil }; om = v }
                if expect(UInt8(ascii: ":")) { guard let v = num(2) else { return nil }; os = v }
                offset = sign * (oh * 3600 + om * 60 + os)
            }
        }
        guard i == b.count else { return nil }
        let days = CivilCalendar.daysSince1970(year: y, month: mo, day: d) - CivilCalendar.pgEpochDays
        let seconds = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + sec - offset)
        return seconds * 1_000_000 + frac
    }

    /// "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (RFC 3339, UTC).
    static func iso8601(micros: Int64) -> String {
        let (secs, us) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        var s = secs, f = us
        if f < 0 { f += 1_000_000; s -= 1 }
        let days = Int(s >= 0 ? s / 86_400 : (s - 86_399) / 86_400)
        let tod = Int(s - Int64(days) * 86_400)
        let date = PGDate(daysSince2000: days)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var out = "\(date.iso8601)T\(p2(tod / 3600)):\(p2(tod / 60 % 60)):\(p2(tod % 60))"
        if f != 0 {
            let fs = String(f)
            out += "." + String(repeating: "0", count: 6 - fs.count) + fs
        }
        return out + "Z"
    }
}

/// `timestamptz` ↔ `Date` with microsecond precision.
extension Date: PostgresArrayElement {
    public var postgresType: PostgresType { .timestamptz }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(TimestampCoding.micros(self)) }
    public static func decode(from value: PostgresValue) throws -> Date {
        TimestampCoding.date(micros: try TimestampCoding.decodeMicros(value))
    }
    public static var postgresElementType: PostgresType { .timestamptz }
    public static var postgresArrayType: PostgresType { .timestamptzArray }

    /// Microseconds since 2000-01-01 UTC, as PostgreSQL stores timestamptz.
    public var postgresMicroseconds: Int64 { TimestampCoding.micros(self) }
    public init(postgresMicroseconds: Int64) { self = TimestampCoding.date(micros: postgresMicroseconds) }
}
