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
