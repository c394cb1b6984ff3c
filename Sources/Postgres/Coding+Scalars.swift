import Foundation

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
