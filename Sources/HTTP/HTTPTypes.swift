/// Core value types shared by the parser, the event loops and the handlers.
/// Everything here is a plain `Sendable` value: requests travel loop → worker, responses worker → loop.

public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static let http10 = HTTPVersion(major: 1, minor: 0)
    public static let http11 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// Header fields in arrival order. Names are stored lowercased (HTTP names are case-insensitive);
/// values are stored as received, without leading/trailing whitespace.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)]

    public init() { fields = [] }
    public init(_ fields: [(String, String)]) { self.fields = fields.map { ($0.0.lowercased(), $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    public var count: Int { fields.count }
    /// Appends without lowercasing: callers that already hold a lowercased name (the parser).
    public mutating func appendLowercased(name: String, value: String) { fields.append((name, value)) }
    public mutating func add(_ name: String, _ value: String) { fields.append((name.lowercased(), value)) }
    public mutating func reserveCapacity(_ n: Int) { fields.reserveCapacity(n) }
    /// Replaces every field of that name with one field.
    public mutating func set(_ name: String, _ value: String) {
        let n = name.lowercased()
        fields.removeAll { $0.name == n }
        fields.append((n, value))
    }
    public mutating func remove(_ name: String) {
        let n = name.lowercased()
        fields.removeAll { $0.name == n }
    }
    /// First value of the named field.
    public subscript(name: String) -> String? {
        let n = name.lowercased()
        for f in fields where f.name == n { return f.value }
        return nil
    }
    public func values(_ name: String) -> [String] {
        let n = name.lowercased()
        return fields.filter { $0.name == n }.map(\.value)
    }
    public func contains(_ name: String) -> Bool { self[name] != nil }
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

/// How the request body is delimited (RFC 9112 §6).
public enum BodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// The parsed request head, before the body is read.
public struct RequestHead: Sendable {
    public var method: String
    /// The request-target exactly as sent (origin-form, or `*` for OPTIONS, or absolute-form).
    public var target: String
    /// Path part of the target (percent-encoding kept), always starting with `/` except for `*`.
    public var path: String
    /// Query string without the `?`, nil when absent.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var framing: BodyFraming
    /// Whether the connection may stay open after this exchange, per version and `Connection`.
    public var keepAlive: Bool
    /// `Expect: 100-continue` was sent (HTTP/1.1 only; ignored in HTTP/1.0 requests).
    public var expectContinue: Bool
    /// Host of the request: the authority of an absolute-form target (which overrides `Host`,
    /// RFC 9112 §3.2.2), else the `Host` value; nil for HTTP/1.0 without Host. Set by the parser.
    public var authority: String? = nil

    public init(method: String, target: String, path: String, query: String?, version: HTTPVersion,
                headers: HTTPHeaders, framing: BodyFraming, keepAlive: Bool, expectContinue: Bool) {
        self.method = method; self.target = target; self.path = path; self.query = query
        self.version = version; self.headers = headers; self.framing = framing
        self.keepAlive = keepAlive; self.expectContinue = expectContinue
    }
}

/// A request-level failure of the parser: mapped to one status, and the connection is closed after it.
public enum HTTPParseError: Error, Equatable, Sendable {
    case badRequest(String)
    case uriTooLong
    case headerFieldsTooLarge
    case payloadTooLarge
    case notImplemented(String)
    case versionNotSupported
    case lengthRequired
    /// An `Expect` other than `100-continue` (RFC 9110 §10.1.1).
    case expectationFailed

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headerFieldsTooLarge: 431
        case .payloadTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        case .lengthRequired: 411
        case .expectationFailed: 417
        }
    }

    /// Stable machine-readable code for the problem body.
    public var code: String {
        switch self {
        case .badRequest: "bad_request"
        case .uriTooLong: "uri_too_long"
        case .headerFieldsTooLarge: "header_fields_too_large"
        case .payloadTooLarge: "payload_too_large"
        case .notImplemented: "not_implemented"
        case .versionNotSupported: "http_version_not_supported"
        case .lengthRequired: "length_required"
        case .expectationFailed: "expectation_failed"
        }
    }

    public var detail: String {
        switch self {
        case .badRequest(let why): why
        case .uriTooLong: "The request line is longer than the server accepts."
        case .headerFieldsTooLarge: "The header section is larger than the server accepts."
        case .payloadTooLarge: "The request body is larger than this route accepts."
        case .notImplemented(let why): why
        case .versionNotSupported: "Only HTTP/1.0 and HTTP/1.1 are supported."
        case .lengthRequired: "A body needs Content-Length or chunked Transfer-Encoding."
        case .expectationFailed: "Only the 100-continue expectation is supported."
        }
    }
}
