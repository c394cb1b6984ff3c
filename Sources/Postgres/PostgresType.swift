/// A PostgreSQL type OID (`pg_type.oid`). Built-in types have fixed OIDs; extension types
/// (ltree, citext, enums, …) get OIDs ≥ 16384 at install time.
public struct PostgresType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ oid: UInt32) { self.rawValue = oid }

    /// OID 0: let the server infer the parameter type from context.
    public static let unspecified = PostgresType(0)
    public static let bool = PostgresType(16)
    public static let bytea = PostgresType(17)
    public static let char = PostgresType(18)
    public static let name = PostgresType(19)
    public static let int8 = PostgresType(20)
    public static let int2 = PostgresType(21)
    public static let int4 = PostgresType(23)
    public static let text = PostgresType(25)
    public static let oid = PostgresType(26)
    public static let json = PostgresType(114)
    public static let xml = PostgresType(142)
    public static let float4 = PostgresType(700)
    public static let float8 = PostgresType(701)
    public static let unknown = PostgresType(705)
    public static let bpchar = PostgresType(1042)
    public static let varchar = PostgresType(1043)
    public static let date = PostgresType(1082)
    public static let time = PostgresType(1083)
    public static let timestamp = PostgresType(1114)
    public static let timestamptz = PostgresType(1184)
    public static let interval = PostgresType(1186)
    public static let numeric = PostgresType(1700)
    public static let uuid = PostgresType(2950)
    public static let jsonb = PostgresType(3802)

    public static let boolArray = PostgresType(1000)
    public static let byteaArray = PostgresType(1001)
    public static let charArray = PostgresType(1002)
    public static let nameArray = PostgresType(1003)
    public static let int2Array = PostgresType(1005)
    public static let int4Array = PostgresType(1007)
    public static let textArray = PostgresType(1009)
    public static let bpcharArray = PostgresType(1014)
    public static let varcharArray = PostgresType(1015)
    public static let int8Array = PostgresType(1016)
    public static let float4Array = PostgresType(1021)
    public static let float8Array = PostgresType(1022)
    public static let timestampArray = PostgresType(1115)
    public static let dateArray = PostgresType(1182)
    public static let timestamptzArray = PostgresType(1185)
    public static let numericArray = PostgresType(1231)
    public static let jsonArray = PostgresType(199)
    public static let uuidArray = PostgresType(2951)
    public static let jsonbArray = PostgresType(3807)

    /// True for OIDs assigned at run time (extensions, enums, domains, user types).
    public var isUserDefined: Bool { rawValue >= 16384 }

    /// True for types whose binary representation is the UTF-8 text itself.
    var isTextLike: Bool {
        switch self {
        case .text, .varchar, .name, .bpchar, .unknown, .json, .xml, .char: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .bool: return "bool"
        case .bytea: return "bytea"
        case .char: return "char"
        case .name: return "name"
        case .int8: return "int8"
        case .int2: return "int2"
        case .int4: return "int4"
        case .text: return "text"
        case .oid: return "oid"
        case .json: return "json"
        case .float4: return "float4"
        case .float8: return "float8"
        case .unknown: return "unknown"
        case .bpchar: return "bpchar"
        case .varchar: return "varchar"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .timestamptz: return "timestamptz"
        case .numeric: return "numeric"
        case .uuid: return "uuid"
        case .jsonb: return "jsonb"
        case .int2Array: return "int2[]"
        case .int4Array: return "int4[]"
        case .int8Array: return "int8[]"
        case .textArray: return "text[]"
        case .varcharArray: return "varchar[]"
        case .uuidArray: return "uuid[]"
        case .boolArray: return "bool[]"
        case .float8Array: return "float8[]"
        case .numericArray: return "numeric[]"
        case .dateArray: return "date[]"
        case .timestamptzArray: return "timestamptz[]"
        case .jsonbArray: return "jsonb[]"
        default: return "oid \(rawValue)"
        }
    }
}

/// Wire format of a parameter or a column value.
public enum PostgresFormat: Int32, Sendable {
    case text = 0
    case binary = 1
}
