import Foundation
import HTTP
import Postgres

/// One validation failure, reported as `errors[]` of a 422 problem with a JSON Pointer.
public struct FieldError: Sendable, Equatable {
    public var pointer: String
    public var code: String
    public var message: String
}

/// Strict reader of a JSON request body: every field is read through a typed accessor that records
/// a `FieldError` instead of throwing, so one response lists every problem; unknown fields are
/// rejected; `finish()` throws the collected 422. Handlers read top to bottom:
///
///     var input = try JSONInput(request)
///     let name = input.string("name", maxLength: 300)
///     let parent = input.uuid("parent_id", required: false)
///     try input.finish()
public struct JSONInput {
    private let object: [String: Any]
    private var read: Set<String> = []
    public private(set) var errors: [FieldError] = []

    public static let maxBodyBytes = 256 * 1024

    public init(_ request: Request) throws {
        if let ct = request.headers["content-type"]?.lowercased(), !ct.hasPrefix("application/json") {
            throw APIError(status: 415, code: "unsupported_media_type", detail: "Send the body as application/json.")
        }
        let body = request.body.isEmpty ? Array("{}".utf8) : request.body
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            throw APIError(status: 400, code: "malformed_json", detail: "The body is not valid JSON.")
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError(status: 422, code: "validation_failed", detail: "The body must be a JSON object.",
                           errors: [FieldError(pointer: "", code: "type", message: "expected an object")])
        }
        self.object = object
    }

    public init(object: [String: Any]) { self.object = object }

    public func has(_ key: String) -> Bool { object[key] != nil }
    public func isNull(_ key: String) -> Bool { object[key] is NSNull }

    public mutating func fail(_ key: String, _ code: String, _ message: String) {
        errors.append(FieldError(pointer: "/" + key, code: code, message: message))
    }

    private mutating func raw(_ key: String, required: Bool) -> Any? {
        read.insert(key)
        guard let v = object[key], !(v is NSNull) else {
            if required { fail(key, "required", "is required") }
            return nil
        }
        return v
    }

    public mutating func string(_ key: String, required: Bool = true, minLength: Int = 1, maxLength: Int = 1000,
                                pattern: String? = nil) -> String? {
        guard let v = raw(key, required: required) else { return nil }
        guard let s = v as? String else { fail(key, "type", "must be a string"); return nil }
        // NFC, so "Đức" typed with combining marks is stored and searched like the precomposed
        // form; lengths count code points, as PostgreSQL's length() and CHECKs do.
        let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        let length = trimmed.unicodeScalars.count
        if length < minLength { fail(key, minLength == 1 ? "required" : "too_short", "must not be empty"); return nil }
        if length > maxLength { fail(key, "too_long", "must be at most \(maxLength) characters"); return nil }
        if trimmed.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) {
            fail(key, "invalid_characters", "must not contain control characters"); return nil
        }
        if let pattern, trimmed.range(of: pattern, options: .regularExpression) == nil {
            fail(key, "format", "has an invalid format"); return nil
        }
        return trimmed
    }

    public mutating func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type, required: Bool = true) -> E? where E.RawValue == String {
        guard let v = raw(key, required: required) else { return nil }
        guard let s = v as? String, let e = E(rawValue: s) else {
            fail(key, "invalid_value", "must be one of: " + E.allCases.map(\.rawValue).joined(separator: ", "))
            return nil
        }
        return e
    }

    public mutating func uuid(_ key: String, required: Bool = true) -> UUID? {
        guard let v = raw(key, required: required) else { return nil }
        guard let s = v as? String, let u = UUID(uuidString: s) else { fail(key, "format", "must be a UUID"); return nil }
        return u
    }

    public mutating func date(_ key: String, required: Bool = true) -> PGDate? {
        guard let v = raw(key, required: required) else { return nil }
        guard let s = v as? String, s.utf8.count == 10, let d = PGDate(s) else {
            fail(key, "format", "must be a date YYYY-MM-DD"); return nil
        }
        return d
    }

    public mutating func bool(_ key: String, required: Bool = true) -> Bool? {
        guard let v = raw(key, required: required) else { return nil }
        guard let n = v as? NSNumber, Self.isBool(n) else { fail(key, "type", "must be true or false"); return nil }
        return n.boolValue
    }

    public mutating func int(_ key: String, required: Bool = true, range: ClosedRange<Int> = Int.min...Int.max) -> Int? {
        guard let v = raw(key, required: required) else { return nil }
        guard let n = v as? NSNumber, !Self.isBool(n), let i = Int(exactly: n.doubleValue) else {
            fail(key, "type", "must be an integer"); return nil
        }
        guard range.contains(i) else { fail(key, "out_of_range", "must be between \(range.lowerBound) and \(range.upperBound)"); return nil }
        return i
    }

    public mutating func object(_ key: String, required: Bool = true) -> JSONInput? {
        guard let v = raw(key, required: required) else { return nil }
        guard let o = v as? [String: Any] else { fail(key, "type", "must be an object"); return nil }
        return JSONInput(object: o)
    }

    /// An object of query parameters, in key order: each value a string, a number or a boolean, or
    /// an array of them for a parameter given several times.
    public mutating func queryParameters(_ key: String, required: Bool = true, maxCount: Int = 50) -> [(name: String, value: String)]? {
        guard let v = raw(key, required: required) else { return nil }
        guard let o = v as? [String: Any] else { fail(key, "type", "must be an object"); return nil }
        guard o.count <= maxCount else { fail(key, "too_long", "must have at most \(maxCount) parameters"); return nil }
        func text(_ value: Any) -> String? {
            if let s = value as? String { return s }
            if let n = value as? NSNumber { return Self.isBool(n) ? (n.boolValue ? "true" : "false") : n.stringValue }
            return nil
        }
        var out: [(name: String, value: String)] = []
        for name in o.keys.sorted() {
            let values = (o[name] as? [Any]) ?? [o[name]!]
            for value in values {
                guard let t = text(value) else {
                    errors.append(FieldError(pointer: "/\(key)/\(name)", code: "type", message: "must be a string, number or boolean, or an array of them"))
                    return nil
                }
                out.append((name, t))
            }
        }
        return out
    }

    public mutating func array(_ key: String, required: Bool = true, maxCount: Int) -> [Any]? {
        guard let v = raw(key, required: required) else { return nil }
        guard let a = v as? [Any] else { fail(key, "type", "must be an array"); return nil }
        guard !a.isEmpty else { fail(key, "required", "must not be empty"); return nil }
        guard a.count <= maxCount else { fail(key, "too_long", "must have at most \(maxCount) items"); return nil }
        return a
    }

    /// Adds this object's unknown fields to `errors` (for nested items checked one by one).
    public mutating func collectUnknown(into errors: inout [FieldError]) {
        let before = self.errors.count
        rejectUnknown()
        errors += self.errors[before...]
    }

    /// Merges a nested object's errors under `/key`.
    public mutating func absorb(_ nested: JSONInput, under key: String) {
        var n = nested
        n.rejectUnknown()
        errors += n.errors.map { FieldError(pointer: "/" + key + $0.pointer, code: $0.code, message: $0.message) }
    }

    /// JSONSerialization on Linux returns booleans as NSNumber of objCType "c" (a char); JSON
    /// numbers never decode to that type, so it tells `true` from `1`.
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    mutating func rejectUnknown() {
        for key in object.keys.sorted() where !read.contains(key) {
            errors.append(FieldError(pointer: "/" + key, code: "unknown_field", message: "is not a field of this resource"))
        }
    }

    /// Throws a 422 listing every error (unknown fields included); returns when the body is valid.
    public mutating func finish() throws {
        rejectUnknown()
        if !errors.isEmpty {
            throw APIError(status: 422, code: "validation_failed", detail: "The request body has invalid fields.", errors: errors)
        }
    }
}
