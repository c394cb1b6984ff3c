import CLibPQ
import Foundation

/// The rows of one statement. Owns the libpq result; iterate it, index it, or read `rowsAffected`.
/// Not Sendable: read it on the thread that ran the query.
public final class PostgresResult: RandomAccessCollection {
    public typealias Index = Int
    public typealias Element = Row
    public typealias Iterator = IndexingIterator<PostgresResult>
    public typealias Indices = Range<Int>
    public typealias SubSequence = Slice<PostgresResult>

    let res: OpaquePointer
    /// Number of rows returned.
    public let count: Int
    public let columnCount: Int

    init(_ res: OpaquePointer) {
        self.res = res
        self.count = Int(PQntuples(res))
        self.columnCount = Int(PQnfields(res))
    }

    deinit { PQclear(res) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> Row { Row(result: self, index: position) }
    public func index(after i: Int) -> Int { i + 1 }
    public func index(before i: Int) -> Int { i - 1 }
    public var indices: Range<Int> { 0..<count }

    /// Rows inserted/updated/deleted/selected/copied, from the command tag (0 when it has none).
    public var rowsAffected: Int {
        guard let p = PQcmdTuples(res), p.pointee != 0 else { return 0 }
        return Int(String(cString: p)) ?? 0
    }

    /// The command tag, e.g. "INSERT 0 1", "UPDATE 3", "SELECT 1".
    public var commandTag: String { String(cString: PQcmdStatus(res)) }

    public var columnNames: [String] {
        (0..<columnCount).map { String(cString: PQfname(res, Int32($0))) }
    }

    public func columnType(_ index: Int) -> PostgresType { PostgresType(PQftype(res, Int32(index))) }

    /// Index of a column: exact name first, then libpq's case-folding rules (PQfnumber).
    public func columnIndex(_ name: String) -> Int? {
        let found: Int? = name.withCString { cname in
            for i in 0..<columnCount where strcmp(PQfname(res, Int32(i)), cname) == 0 { return i }
            return nil
        }
        if let found { return found }
        let n = Int(PQfnumber(res, name))
        return n >= 0 ? n : nil
    }

    /// The first row, if any.
    public var firstRow: Row? { count > 0 ? Row(result: self, index: 0) : nil }
}

/// One row of a `PostgresResult`.
public struct Row {
    public let result: PostgresResult
    public let index: Int

    /// Decodes column `column` (0-based) as `T`; `T?` for nullable columns.
    @inline(__always)
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ column: Int) throws -> T {
        guard column >= 0 && column < result.columnCount else {
            throw PostgresDecodingError(
                kind: .columnNotFound, column: "#\(column)", columnIndex: column, targetType: "\(T.self)",
                postgresType: .unspecified, reason: "result has \(result.columnCount) columns")
        }
        let res = result.res
        let r = Int32(index), c = Int32(column)
        do {
            if PQgetisnull(res, r, c) != 0 { return try T.decodeNull() }
            let len = Int(PQgetlength(res, r, c))
            let ptr = UnsafeRawPointer(PQgetvalue(res, r, c)!)
            let value = PostgresValue(
                bytes: UnsafeRawBufferPointer(start: ptr, count: len),
                type: PostgresType(PQftype(res, c)),
                format: PQfformat(res, c) == 1 ? .binary : .text)
            return try T.decode(from: value)
        } catch let failure as PostgresDecodingFailure {
            throw wrap(failure, T.self, column)
        }
    }

    /// Decodes the column named `name` as `T`.
    @inline(__always)
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T {
        guard let i = result.columnIndex(name) else {
            throw PostgresDecodingError(
                kind: .columnNotFound, column: name, columnIndex: -1, targetType: "\(T.self)",
                postgresType: .unspecified, reason: "columns: \(result.columnNames.joined(separator: ", "))")
        }
        return try decode(T.self, i)
    }

    /// Type-inferred variants: `let id: UUID = try row.decode(0)`.
    @inline(__always)
    public func decode<T: PostgresDecodable>(_ column: Int) throws -> T { try decode(T.self, column) }
    @inline(__always)
    public func decode<T: PostgresDecodable>(_ name: String) throws -> T { try decode(T.self, name) }

    public func isNull(_ column: Int) -> Bool { PQgetisnull(result.res, Int32(index), Int32(column)) != 0 }

    public var columnCount: Int { result.columnCount }

    func wrap(_ failure: PostgresDecodingFailure, _ target: Any.Type, _ column: Int) -> PostgresDecodingError {
        let name = String(cString: PQfname(result.res, Int32(column)))
        let type = PostgresType(PQftype(result.res, Int32(column)))
        switch failure {
        case .unexpectedNull:
            return PostgresDecodingError(kind: .unexpectedNull, column: name, columnIndex: column,
                                         targetType: "\(target)", postgresType: type, reason: "")
        case .typeMismatch(let reason):
            return PostgresDecodingError(kind: .typeMismatch, column: name, columnIndex: column,
                                         targetType: "\(target)", postgresType: type, reason: reason)
        case .invalidValue(let reason):
            return PostgresDecodingError(kind: .invalidValue, column: name, columnIndex: column,
                                         targetType: "\(target)", postgresType: type, reason: reason)
        }
    }
}
