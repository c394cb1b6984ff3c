import Foundation

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
