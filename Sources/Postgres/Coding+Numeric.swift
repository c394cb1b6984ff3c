import Foundation

// MARK: - Decimal (numeric)

extension Decimal: PostgresArrayElement {
    public var postgresType: PostgresType { .numeric }
    public func encode(into buffer: inout [UInt8]) throws {
        try NumericCoding.encode(decimalString: self.description, into: &buffer)
    }
    public static func decode(from value: PostgresValue) throws -> Decimal {
        let s: String
        if value.format == .binary {
            switch value.type {
            case .numeric: s = try NumericCoding.decodeString(value)
            case .int2, .int4, .int8: return Decimal(try decodeInteger(value, Decimal.self))
            case .float4, .float8: return Decimal(try Double.decode(from: value))
            case .text, .varchar, .unknown: s = value.string
            default: throw PostgresDecodingFailure.mismatch(Decimal.self, value)
            }
        } else {
            s = value.string
        }
        if s == "NaN" { return .nan }
        guard let d = Decimal(string: s, locale: NumericCoding.posix) else {
            throw PostgresDecodingFailure.invalidValue("\"\(s)\" is not representable as Decimal")
        }
        return d
    }
    public static var postgresElementType: PostgresType { .numeric }
    public static var postgresArrayType: PostgresType { .numericArray }
}

enum NumericCoding {
    static let posix = Locale(identifier: "en_US_POSIX")

    /// PostgreSQL binary numeric → canonical decimal text (same as numeric_out).
    static func decodeString(_ value: PostgresValue) throws -> String {
        if value.format == .text { return value.string }
        guard value.count >= 8 else { throw PostgresDecodingFailure.invalidValue("short numeric") }
        let ndigits = Int(value.readBE(Int16.self, at: 0))
        let weight = Int(value.readBE(Int16.self, at: 2))
        let sign = value.readBE(UInt16.self, at: 4)
        let dscale = Int(value.readBE(Int16.self, at: 6))
        guard ndigits >= 0, value.count >= 8 + 2 * ndigits else {
            throw PostgresDecodingFailure.invalidValue("bad numeric length")
        }
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        default: break
        }
        @inline(__always) func digit(_ i: Int) -> Int {
            i >= 0 && i < ndigits ? Int(value.readBE(Int16.self, at: 8 + 2 * i)) : 0
        }
        var out = [UInt8]()
        out.reserveCapacity(max(weight, 0) * 4 + dscale + 8)
        if sign == 0x4000 { out.append(UInt8(ascii: "-")) }
        if weight < 0 {
            out.append(UInt8(ascii: "0"))
        } else {
            for i in 0...weight {
                let d = digit(i)
                if i == 0 {
                    out.append(contentsOf: String(d).utf8)
                } else {
                    out.append(UInt8(48 + d / 1000))
                    out.append(UInt8(48 + (d / 100) % 10))
                    out.append(UInt8(48 + (d / 10) % 10))
                    out.append(UInt8(48 + d % 10))
                }
            }
        }
        if dscale > 0 {
            out.append(UInt8(ascii: "."))
            var written = 0
            var i = weight + 1
            while written < dscale {
                let d = digit(i)
                let ds = [d / 1000, (d / 100) % 10, (d / 10) % 10, d % 10]
                for x in ds where written < dscale {
                    out.append(UInt8(48 + x))
                    written += 1
                }
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decimal text ("-123.4500", "1e-5", "NaN") → PostgreSQL binary numeric.
    static func encode(decimalString s: String, into buffer: inout [UInt8]) throws {
        if s == "NaN" {
            buffer.appendBE(Int16(0)); buffer.appendBE(Int16(0)); buffer.appendBE(UInt16(0xC000)); buffer.appendBE(Int16(0))
            return
        }
        var digits: [UInt8] = []
        var negative = false
        var pointPos: Int? = nil
        var exponent = 0
        var utf8 = Array(s.utf8)[...]
        if let f = utf8.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") {
            negative = f == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }
        var idx = utf8.startIndex
        while idx < utf8.endIndex {
            let c = utf8[idx]
            if c >= 48 && c <= 57 {
                digits.append(c - 48)
            } else if c == UInt8(ascii: ".") && pointPos == nil {
                pointPos = digits.count
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                guard let e = Int(String(decoding: utf8[(idx + 1)...], as: UTF8.self)) else {
                    throw PostgresEncodingError("invalid decimal \(s)")
                }
                exponent = e
                break
            } else {
                throw PostgresEncodingError("invalid decimal \(s)")
            }
            idx += 1
        }
        var intDigits = (pointPos ?? digits.count) + exponent
        var dscale = max(0, digits.count - intDigits)
        // Left-pad so the integer part is a multiple of 4 digits, right-pad the fraction.
        if intDigits < 0 {
            digits.insert(contentsOf: repeatElement(0, count: -intDigits), at: 0)
            intDigits = 0
        }
        if intDigits > digits.count {
            digits.append(contentsOf: repeatElement(0, count: intDigits - digits.count))
        }
        let lead = (4 - intDigits % 4) % 4
        digits.insert(contentsOf: repeatElement(0, count: lead), at: 0)
        intDigits += lead
        let trail = (4 - (digits.count - intDigits) % 4) % 4
        digits.append(contentsOf: repeatElement(0, count: trail))
        var groups: [Int16] = []
        groups.reserveCapacity(digits.count / 4)
        var i = 0
        while i < digits.count {
            groups.append(Int16(digits[i]) * 1000 + Int16(digits[i + 1]) * 100 + Int16(digits[i + 2]) * 10 + Int16(digits[i + 3]))
            i += 4
        }
        var weight = intDigits / 4 - 1
        var start = 0
        while start < groups.count && groups[start] == 0 { start += 1; weight -= 1 }
        var end = groups.count
        while end > start && groups[end - 1] == 0 { end -= 1 }
        if start == end { weight = 0; negative = false }
        if dscale > 0x3FFF { dscale = 0x3FFF }
        buffer.appendBE(Int16(end - start))
        buffer.appendBE(Int16(weight))
        buffer.appendBE(UInt16(negative ? 0x4000 : 0))
        buffer.appendBE(Int16(dscale))
        for g in groups[start..<end] { buffer.appendBE(g) }
    }
}
