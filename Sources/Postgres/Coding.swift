import Foundation

/// One non-NULL column value as it arrived from the server. `bytes` is valid only during the
/// `PostgresDecodable.decode(from:)` call.
public struct PostgresValue {
    public let bytes: UnsafeRawBufferPointer
    public let type: PostgresType
    public let format: PostgresFormat

    public init(bytes: UnsafeRawBufferPointer, type: PostgresType, format: PostgresFormat) {
        self.bytes = bytes
        self.type = type
        self.format = format
    }

    @inline(__always) var count: Int { bytes.count }

    /// The bytes as a String (UTF-8, repairing invalid sequences).
    @inline(__always) var string: String {
        String(decoding: bytes, as: UTF8.self)
    }

    @inline(__always) func readBE<T: FixedWidthInteger>(_: T.Type, at offset: Int = 0) -> T {
        T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// A Swift type that can be read from a column.
public protocol PostgresDecodable {
    /// Decodes a non-NULL value. Throw `PostgresDecodingFailure`; `Row` adds the column name.
    static func decode(from value: PostgresValue) throws -> Self
    /// Called for SQL NULL. Non-optional types throw (the default); `Optional` returns nil.
    static func decodeNull() throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws -> Self { throw PostgresDecodingFailure.unexpectedNull }
}

/// A Swift type that can be sent as a query parameter.
public protocol PostgresEncodable {
    /// The parameter's type OID (`.unspecified` lets the server infer it).
    var postgresType: PostgresType { get }
    /// Wire format of the bytes `encode(into:)` appends. Default: binary.
    var postgresFormat: PostgresFormat { get }
    /// True when the value is SQL NULL (only `Optional.none` by default).
    var isNull: Bool { get }
    /// Appends the value's bytes in `postgresFormat`.
    func encode(into buffer: inout [UInt8]) throws
}

extension PostgresEncodable {
    public var postgresFormat: PostgresFormat { .binary }
    public var isNull: Bool { false }
}

/// Element of a PostgreSQL array (`[Int]` ↔ `int8[]`, `[String]` ↔ `text[]`, `[UUID]` ↔ `uuid[]`, …).
public protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {
    static var postgresElementType: PostgresType { get }
    static var postgresArrayType: PostgresType { get }
}

// MARK: - byte helpers

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendBE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}

@inline(__always) func parseInt64(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    // Fast ASCII parse for text-format integers.
    var i = 0
    let n = bytes.count
    guard n > 0 else { return nil }
    var negative = false
    if bytes[0] == UInt8(ascii: "-") { negative = true; i = 1 } else if bytes[0] == UInt8(ascii: "+") { i = 1 }
    guard i < n else { return nil }
    var v: Int64 = 0
    while i < n {
        let d = Int64(bytes[i]) - 48
        guard d >= 0 && d <= 9 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
        if o1 || o2 { return nil }
        v = s
        i += 1
    }
    return v
}

// MARK: - Optional

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresType: PostgresType {
        switch self {
        case .some(let w): return w.postgresType
        case .none:
            // A typed NULL keeps its type when the wrapped type has a static one.
            if let t = Wrapped.self as? any PostgresArrayElement.Type { return t.postgresElementType }
            return .unspecified
        }
    }
    public var postgresFormat: PostgresFormat {
        switch self {
        case .some(let w): return w.postgresFormat
        case .none: return .binary
        }
    }
    public var isNull: Bool {
        switch self {
        case .some(let w): return w.isNull
        case .none: return true
        }
    }
    public func encode(into buffer: inout [UInt8]) throws {
        if case .some(let w) = self { try w.encode(into: &buffer) }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws -> Wrapped? {
        try Wrapped.decode(from: value)
    }
    public static func decodeNull() throws -> Wrapped? { nil }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresElementType: PostgresType { Wrapped.postgresElementType }
    public static var postgresArrayType: PostgresType { Wrapped.postgresArrayType }
}

// MARK: - Integers

@inline(__always) func decodeInteger(_ value: PostgresValue, _ target: Any.Type) throws -> Int64 {
    if value.format == .binary {
        switch value.type {
        case .int8:
            if value.count == 8 { return value.readBE(Int64.self) }
        case .int4:
            if value.count == 4 { return Int64(value.readBE(Int32.self)) }
        case .int2:
            if value.count == 2 { return Int64(value.readBE(Int16.self)) }
        case .oid:
            if value.count == 4 { return Int64(value.readBE(UInt32.self)) }
        case .numeric:
            let s = try NumericCoding.decodeString(value)
            if let v = Int64(s) { return v }
            throw PostgresDecodingFailure.invalidValue("numeric \(s) is not an integer in range")
        default:
            throw PostgresDecodingFailure.mismatch(target, value)
        }
        throw PostgresDecodingFailure.invalidValue("unexpected length \(value.count)")
    }
    switch value.type {
    case .int8, .int4, .int2, .oid, .numeric, .text, .varchar, .unknown:
        if let v = parseInt64(value.bytes) { return v }
        throw PostgresDecodingFailure.invalidValue("\"\(value.string)\" is not an integer in range")
    default:
        throw PostgresDecodingFailure.mismatch(target, value)
    }
}

extension Int: PostgresArrayElement {
    public var postgresType: PostgresType { .int8 }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(Int64(self)) }
    @inline(__always)
    public static func decode(from value: PostgresValue) throws -> Int {
        Int(try decodeInteger(value, Int.self))
    }
    public static var postgresElementType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
}

extension Int64: PostgresArrayElement {
    public var postgresType: PostgresType { .int8 }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(self) }
    public static func decode(from value: PostgresValue) throws -> Int64 {
        try decodeInteger(value, Int64.self)
    }
    public static var postgresElementType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
}

extension Int32: PostgresArrayElement {
    public var postgresType: PostgresType { .int4 }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(self) }
    public static func decode(from value: PostgresValue) throws -> Int32 {
        let v = try decodeInteger(value, Int32.self)
        guard let r = Int32(exactly: v) else { throw PostgresDecodingFailure.invalidValue("\(v) out of Int32 range") }
        return r
    }
    public static var postgresElementType: PostgresType { .int4 }
    public static var postgresArrayType: PostgresType { .int4Array }
}

extension Int16: PostgresArrayElement {
    public var postgresType: PostgresType { .int2 }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(self) }
    public static func decode(from value: PostgresValue) throws -> Int16 {
        let v = try decodeInteger(value, Int16.self)
        guard let r = Int16(exactly: v) else { throw PostgresDecodingFailure.invalidValue("\(v) out of Int16 range") }
        return r
    }
    public static var postgresElementType: PostgresType { .int2 }
    public static var postgresArrayType: PostgresType { .int2Array }
}

/// `UInt8` maps to the one-byte `"char"` type; `[UInt8]` maps to `bytea`.
extension UInt8: PostgresArrayElement {
    public var postgresType: PostgresType { .char }
    public func encode(into buffer: inout [UInt8]) throws { buffer.append(self) }
    public static func decode(from value: PostgresValue) throws -> UInt8 {
        if value.type == .char, value.count == 1 { return value.bytes[0] }
        let v = try decodeInteger(value, UInt8.self)
        guard let r = UInt8(exactly: v) else { throw PostgresDecodingFailure.invalidValue("\(v) out of UInt8 range") }
        return r
    }
    public static var postgresElementType: PostgresType { .char }
    public static var postgresArrayType: PostgresType { .bytea }
}

// MARK: - Bool

extension Bool: PostgresArrayElement {
    public var postgresType: PostgresType { .bool }
    public func encode(into buffer: inout [UInt8]) throws { buffer.append(self ? 1 : 0) }
    public static func decode(from value: PostgresValue) throws -> Bool {
        guard value.type == .bool || value.type == .text || value.type == .unknown else {
            throw PostgresDecodingFailure.mismatch(Bool.self, value)
        }
        guard value.count >= 1 else { throw PostgresDecodingFailure.invalidValue("empty bool") }
        let b = value.bytes[0]
        if value.format == .binary && value.type == .bool { return b != 0 }
        switch b {
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "1"), UInt8(ascii: "y"): return true
        case UInt8(ascii: "f"), UInt8(ascii: "F"), UInt8(ascii: "0"), UInt8(ascii: "n"): return false
        default: throw PostgresDecodingFailure.invalidValue("\"\(value.string)\" is not a bool")
        }
    }
    public static var postgresElementType: PostgresType { .bool }
    public static var postgresArrayType: PostgresType { .boolArray }
}

// MARK: - Floating point

extension Double: PostgresArrayElement {
    public var postgresType: PostgresType { .float8 }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(bitPattern) }
    public static func decode(from value: PostgresValue) throws -> Double {
        if value.format == .binary {
            switch value.type {
            case .float8 where value.count == 8: return Double(bitPattern: value.readBE(UInt64.self))
            case .float4 where value.count == 4: return Double(Float(bitPattern: value.readBE(UInt32.self)))
            case .int2, .int4, .int8: return Double(try decodeInteger(value, Double.self))
            case .numeric:
                let s = try NumericCoding.decodeString(value)
                if let d = Double(s) { return d }
                throw PostgresDecodingFailure.invalidValue(s)
            default: throw PostgresDecodingFailure.mismatch(Double.self, value)
            }
        }
        switch value.type {
        case .float8, .float4, .int2, .int4, .int8, .numeric, .text, .unknown:
            if let d = Double(value.string) { return d }
            throw PostgresDecodingFailure.invalidValue(value.string)
        default: throw PostgresDecodingFailure.mismatch(Double.self, value)
        }
    }
    public static var postgresElementType: PostgresType { .float8 }
    public static var postgresArrayType: PostgresType { .float8Array }
}

extension Float: PostgresArrayElement {
    public var postgresType: PostgresType { .float4 }
    public func encode(into buffer: inout [UInt8]) throws { buffer.appendBE(bitPattern) }
    public static func decode(from value: PostgresValue) throws -> Float {
        if value.format == .binary, value.type == .float4, value.count == 4 {
            return Float(bitPattern: value.readBE(UInt32.self))
        }
        return Float(try Double.decode(from: value))
    }
    public static var postgresElementType: PostgresType { .float4 }
    public static var postgresArrayType: PostgresType { .float4Array }
}

// MARK: - String

extension String: PostgresArrayElement {
    public var postgresType: PostgresType { .text }
    public func encode(into buffer: inout [UInt8]) throws {
        var s = self
        s.withUTF8 { buffer.append(contentsOf: $0) }
    }
    public static func decode(from value: PostgresValue) throws -> String {
        if value.format == .text { return value.string }
        switch value.type {
        case .text, .varchar, .name, .bpchar, .unknown, .json, .xml, .char:
            return value.string
        case .jsonb:
            guard value.count >= 1, value.bytes[0] == 1 else {
                throw PostgresDecodingFailure.invalidValue("unsupported jsonb version")
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: value.bytes[1...]), as: UTF8.self)
        case .int2, .int4, .int8, .oid:
            return String(try decodeInteger(value, String.self))
        case .numeric:
            return try NumericCoding.decodeString(value)
        case .float4, .float8:
            return String(try Double.decode(from: value))
        case .bool:
            return try Bool.decode(from: value) ? "true" : "false"
        case .uuid:
            return try UUID.decode(from: value).uuidString.lowercased()
        case .date:
            return try PGDate.decode(from: value).description
        case .timestamptz, .timestamp:
            return TimestampCoding.iso8601(micros: try TimestampCoding.decodeMicros(value))
        default:
            if value.type.isUserDefined {
                // enums, citext, domains send text; ltree/lquery prefix a version byte 1.
                if value.count > 0, value.bytes[0] == 1 {
                    return String(decoding: UnsafeRawBufferPointer(rebasing: value.bytes[1...]), as: UTF8.self)
                }
                return value.string
            }
            throw PostgresDecodingFailure.mismatch(String.self, value)
        }
    }
    public static var postgresElementType: PostgresType { .text }
    public static var postgresArrayType: PostgresType { .textArray }
}

/// An untyped SQL NULL parameter (the server infers its type). A nil Optional keeps its type.
public struct PostgresNull: PostgresEncodable, Sendable {
    public init() {}
    public var postgresType: PostgresType { .unspecified }
    public var isNull: Bool { true }
    public func encode(into buffer: inout [UInt8]) throws {}
}

/// A string sent with type OID 0 (text format) so the server infers the type from context: useful
/// for enum columns, `date`/`interval` literals, or any type without a Swift counterpart.
public struct PostgresUntyped: PostgresEncodable, Sendable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var postgresType: PostgresType { .unspecified }
    public var postgresFormat: PostgresFormat { .text }
    public func encode(into buffer: inout [UInt8]) throws { buffer.append(contentsOf: text.utf8) }
}

// MARK: - UUID

extension UUID: PostgresArrayElement {
    public var postgresType: PostgresType { .uuid }
    public func encode(into buffer: inout [UInt8]) throws {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
    public static func decode(from value: PostgresValue) throws -> UUID {
        if value.format == .binary {
            guard value.type == .uuid else { throw PostgresDecodingFailure.mismatch(UUID.self, value) }
            guard value.count == 16 else { throw PostgresDecodingFailure.invalidValue("uuid of \(value.count) bytes") }
            var u: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &u) { $0.copyMemory(from: value.bytes) }
            return UUID(uuid: u)
        }
        guard let u = UUID(uuidString: value.string) else {
            throw PostgresDecodingFailure.invalidValue("\"\(value.string)\" is not a UUID")
        }
        return u
    }
    public static var postgresElementType: PostgresType { .uuid }
    public static var postgresArrayType: PostgresType { .uuidArray }
}

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

// MARK: - bytea

@inline(__always) func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 97...102: return c - 87
    case 65...70: return c - 55
    default: return nil
    }
}

func decodeBytea(_ value: PostgresValue) throws -> [UInt8] {
    if value.format == .binary {
        guard value.type == .bytea || value.type.isTextLike || value.type.isUserDefined else {
            throw PostgresDecodingFailure.mismatch([UInt8].self, value)
        }
        return Array(value.bytes)
    }
    // text format: "\x0a0b…" (hex output)
    let b = value.bytes
    guard b.count >= 2, b[0] == UInt8(ascii: "\\"), b[1] == UInt8(ascii: "x") else { return Array(b) }
    var out = [UInt8]()
    out.reserveCapacity((b.count - 2) / 2)
    var i = 2
    while i + 1 < b.count {
        guard let h = hexValue(b[i]), let l = hexValue(b[i + 1]) else {
            throw PostgresDecodingFailure.invalidValue("bad bytea hex")
        }
        out.append(h << 4 | l)
        i += 2
    }
    return out
}

extension Data: PostgresEncodable, PostgresDecodable {
    public var postgresType: PostgresType { .bytea }
    public func encode(into buffer: inout [UInt8]) throws { buffer.append(contentsOf: self) }
    public static func decode(from value: PostgresValue) throws -> Data { Data(try decodeBytea(value)) }
}

// MARK: - Arrays

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public var postgresType: PostgresType { Element.postgresArrayType }

    public func encode(into buffer: inout [UInt8]) throws {
        if Element.self == UInt8.self {
            // [UInt8] is bytea, not "char"[].
            self.withUnsafeBytes { buffer.append(contentsOf: $0) }
            return
        }
        if isEmpty {
            buffer.appendBE(Int32(0)); buffer.appendBE(Int32(0)); buffer.appendBE(Element.postgresElementType.rawValue)
            return
        }
        let hasNull = contains { $0.isNull }
        buffer.appendBE(Int32(1))
        buffer.appendBE(Int32(hasNull ? 1 : 0))
        buffer.appendBE(Element.postgresElementType.rawValue)
        buffer.appendBE(Int32(count))
        buffer.appendBE(Int32(1))
        for element in self {
            if element.isNull {
                buffer.appendBE(Int32(-1))
                continue
            }
            guard element.postgresFormat == .binary else {
                throw PostgresEncodingError("array elements of \(Element.self) must use the binary format")
            }
            let lengthAt = buffer.count
            buffer.appendBE(Int32(0))
            try element.encode(into: &buffer)
            let length = Int32(buffer.count - lengthAt - 4).bigEndian
            Swift.withUnsafeBytes(of: length) { src in
                for k in 0..<4 { buffer[lengthAt + k] = src[k] }
            }
        }
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public static func decode(from value: PostgresValue) throws -> [Element] {
        if Element.self == UInt8.self, value.type != .byteaArray {
            return try decodeBytea(value) as! [Element]
        }
        guard value.format == .binary else {
            throw PostgresDecodingFailure.typeMismatch("text-format arrays are not supported; use a parameterised query")
        }
        let b = value.bytes
        guard b.count >= 12 else { throw PostgresDecodingFailure.invalidValue("short array") }
        let ndim = Int(value.readBE(Int32.self, at: 0))
        let elemType = PostgresType(value.readBE(UInt32.self, at: 8))
        if ndim == 0 { return [] }
        guard ndim == 1 else {
            throw PostgresDecodingFailure.typeMismatch("\(ndim)-dimensional arrays are not supported")
        }
        guard b.count >= 20 else { throw PostgresDecodingFailure.invalidValue("short array") }
        let n = Int(value.readBE(Int32.self, at: 12))
        var offset = 20
        var out = [Element]()
        out.reserveCapacity(n)
        for _ in 0..<n {
            guard offset + 4 <= b.count else { throw PostgresDecodingFailure.invalidValue("truncated array") }
            let len = Int(value.readBE(Int32.self, at: offset))
            offset += 4
            if len < 0 {
                out.append(try Element.decodeNull())
                continue
            }
            guard offset + len <= b.count else { throw PostgresDecodingFailure.invalidValue("truncated array") }
            let element = PostgresValue(
                bytes: UnsafeRawBufferPointer(rebasing: b[offset..<(offset + len)]), type: elemType, format: .binary)
            out.append(try Element.decode(from: element))
            offset += len
        }
        return out
    }
}

// MARK: - JSON

/// Raw `jsonb` (or `json`) document bytes. Encodes as `jsonb`.
public struct JSONB: PostgresArrayElement, Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    /// Encodes a Codable value with `encoder` (default: JSONEncoder with sorted keys off).
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        self.bytes = Array(try encoder.encode(value))
    }
    public var string: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { string }
    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(bytes))
    }

    public var postgresType: PostgresType { .jsonb }
    public func encode(into buffer: inout [UInt8]) throws {
        buffer.append(1)
        buffer.append(contentsOf: bytes)
    }
    public static func decode(from value: PostgresValue) throws -> JSONB {
        if value.format == .binary && value.type == .jsonb {
            guard value.count >= 1, value.bytes[0] == 1 else {
                throw PostgresDecodingFailure.invalidValue("unsupported jsonb version")
            }
            return JSONB(bytes: Array(value.bytes[1...]))
        }
        guard value.type == .jsonb || value.type.isTextLike else {
            throw PostgresDecodingFailure.mismatch(JSONB.self, value)
        }
        return JSONB(bytes: Array(value.bytes))
    }
    public static var postgresElementType: PostgresType { .jsonb }
    public static var postgresArrayType: PostgresType { .jsonbArray }
}

/// A Codable value stored as `jsonb`: `try row.decode(PostgresJSON<Settings>.self, "settings").value`.
public struct PostgresJSON<Value: Codable>: PostgresEncodable, PostgresDecodable {
    public var value: Value
    public init(_ value: Value) { self.value = value }
    public var postgresType: PostgresType { .jsonb }
    public func encode(into buffer: inout [UInt8]) throws {
        buffer.append(1)
        do {
            buffer.append(contentsOf: try JSONEncoder().encode(value))
        } catch {
            throw PostgresEncodingError("JSON encoding of \(Value.self) failed: \(error)")
        }
    }
    public static func decode(from value: PostgresValue) throws -> PostgresJSON<Value> {
        let raw = try JSONB.decode(from: value)
        do {
            return PostgresJSON(try JSONDecoder().decode(Value.self, from: Data(raw.bytes)))
        } catch {
            throw PostgresDecodingFailure.invalidValue("JSON decoding as \(Value.self) failed: \(error)")
        }
    }
}

extension PostgresJSON: Sendable where Value: Sendable {}
