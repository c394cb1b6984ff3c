/// An error reported by the server or by libpq, with the SQLSTATE mapped to a `Kind`.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// 23505
        case uniqueViolation
        /// 23503
        case foreignKeyViolation
        /// 23502
        case notNullViolation
        /// 23514
        case checkViolation
        /// 40001
        case serializationFailure
        /// 40P01
        case deadlockDetected
        /// 57014 (statement_timeout, user cancel)
        case queryCanceled
        /// Class 08, CONNECTION_BAD, the server shutting down/starting (57P01–57P03), 53300 too many
        /// connections, or a reconnect attempt suppressed by the backoff. The HTTP layer answers 503.
        case connectionUnavailable
        /// A transaction block was aborted by an earlier error and COMMIT turned into ROLLBACK.
        case transactionAborted
        case other
    }

    public var kind: Kind
    /// Five-character SQLSTATE ("23505"); libpq-side connection failures use "08006".
    public var sqlState: String
    public var message: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var table: String?
    public var column: String?
    public var schema: String?
    /// ERROR, FATAL, PANIC (non-localized).
    public var severity: String?

    public init(
        sqlState: String, message: String, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil, table: String? = nil, column: String? = nil, schema: String? = nil,
        severity: String? = nil, kind: Kind? = nil
    ) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.table = table
        self.column = column
        self.schema = schema
        self.severity = severity
        self.kind = kind ?? PostgresError.kind(forSQLState: sqlState)
    }

    public static func kind(forSQLState state: String) -> Kind {
        switch state {
        case "23505": return .uniqueViolation
        case "23503": return .foreignKeyViolation
        case "23502": return .notNullViolation
        case "23514": return .checkViolation
        case "40001": return .serializationFailure
        case "40P01": return .deadlockDetected
        case "57014": return .queryCanceled
        case "57P01", "57P02", "57P03", "53300": return .connectionUnavailable
        case "08P01": return .other // protocol violation (e.g. wrong parameter count): a bug, not an outage
        default:
            if state.hasPrefix("08") { return .connectionUnavailable }
            return .other
        }
    }

    /// True for errors after which rerunning the whole transaction can succeed.
    public var isRetryableTransactionFailure: Bool {
        kind == .serializationFailure || kind == .deadlockDetected
    }

    static func connectionUnavailable(_ message: String) -> PostgresError {
        PostgresError(sqlState: "08006", message: message, kind: .connectionUnavailable)
    }

    public var description: String {
        var s = "PostgresError(\(kind), \(sqlState)): \(message)"
        if let detail { s += " — detail: \(detail)" }
        if let constraint { s += " — constraint: \(constraint)" }
        return s
    }
}

/// Decoding a column failed: a NULL into a non-optional, a type that does not match, a value that
/// cannot be represented, or a column that does not exist.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case unexpectedNull
        case typeMismatch
        case invalidValue
        case columnNotFound
    }
    public var kind: Kind
    /// Column name (as returned by the server) or the name that was asked for.
    public var column: String
    public var columnIndex: Int
    /// The Swift type asked for.
    public var targetType: String
    public var postgresType: PostgresType
    public var reason: String

    public var description: String {
        switch kind {
        case .unexpectedNull:
            return "column \"\(column)\" (#\(columnIndex)) is NULL but \(targetType) is not optional"
        case .typeMismatch:
            return "column \"\(column)\" (#\(columnIndex)) of type \(postgresType) cannot be decoded as \(targetType)\(reason.isEmpty ? "" : ": \(reason)")"
        case .invalidValue:
            return "column \"\(column)\" (#\(columnIndex)) of type \(postgresType) holds a value invalid for \(targetType): \(reason)"
        case .columnNotFound:
            return "no column \"\(column)\" in the result\(reason.isEmpty ? "" : " (\(reason))")"
        }
    }
}

/// Thrown by `PostgresDecodable.decode(from:)`; `Row` turns it into a `PostgresDecodingError`
/// naming the column.
public enum PostgresDecodingFailure: Error, Sendable {
    case typeMismatch(String)
    case invalidValue(String)
    case unexpectedNull

    static func mismatch(_ type: Any.Type, _ value: PostgresValue) -> PostgresDecodingFailure {
        .typeMismatch("\(value.type) (\(value.format)) is not decodable as \(type)")
    }
}

/// Thrown when a Swift value cannot be encoded as a parameter.
public struct PostgresEncodingError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "PostgresEncodingError: \(message)" }
}
