import Foundation
import HTTP
import Postgres

/// Encodes resources: snake_case keys, lowercase UUIDs, RFC 3339 UTC timestamps, `YYYY-MM-DD`
/// dates (PGDate encodes itself so), nulls written explicitly where a type says so.
public enum JSONOutput {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(Timestamp.rfc3339(date))
        }
        return Array(try encoder.encode(value))
    }

    /// 200/201 with an already encoded JSON body and the resource's ETag.
    public static func resource(json body: [UInt8], status: Int = 200, version: Int? = nil, location: String? = nil) -> Response {
        var r = Response.json(status, body)
        if let version { r.headers.set("etag", ETag.make(version: version)) }
        if let location { r.headers.set("location", location) }
        return r
    }

    /// 200/201 JSON with the resource's ETag.
    public static func resource<T: Encodable>(_ value: T, status: Int = 200, version: Int? = nil, location: String? = nil) throws -> Response {
        var r = Response.json(status, try encode(value))
        if let version { r.headers.set("etag", ETag.make(version: version)) }
        if let location { r.headers.set("location", location) }
        return r
    }
}

public enum Timestamp {
    /// `2026-11-23T13:12:18.123456Z`: microseconds, as PostgreSQL stores them.
    public static func rfc3339(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        var micros = Int(((t - Double(secs)) * 1_000_000).rounded())
        if micros >= 1_000_000 { secs += 1; micros -= 1_000_000 }
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        func p(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let frac = String(micros)
        return "\(tmv.tm_year + 1900)-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec))."
            + String(repeating: "0", count: 6 - frac.count) + frac + "Z"
    }

    public static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}

extension UUID {
    /// Lowercase canonical form used in every response and URL.
    public var lower: String { uuidString.lowercased() }
}

/// Strong entity tags from the row's `version` and the conditional-request rules (RFC 9110 §13).
public enum ETag {
    public static func make(version: Int) -> String { "\"v\(version)\"" }

    /// A tag derived from the representation itself, for resources without a stored version (their
    /// state can change without a write, e.g. a token that expires).
    public static func content(_ body: [UInt8]) -> String {
        var h: UInt64 = 0xcbf29ce484222325  // FNV-1a: stable across processes, unlike Hasher
        for b in body { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return "\"h\(String(h, radix: 16))\""
    }

    /// `If-None-Match` against a content tag.
    public static func notModified(_ request: Request, tag: String) -> Bool {
        guard let inm = request.headers["if-none-match"] else { return false }
        return listed(inm).contains { $0 == "*" || $0 == tag || $0 == "W/" + tag }
    }

    /// The tags a header lists, with the `-gzip` suffix the server adds to tags of gzipped
    /// representations removed: a client echoes the tag it received, compressed or not.
    static func listed(_ header: String) -> [String] {
        header.split(separator: ",").map { raw in
            var t = raw.trimmingCharacters(in: .whitespaces)
            if t.hasSuffix("-gzip\"") { t = String(t.dropLast(6)) + "\"" }
            return t
        }
    }

    /// `If-None-Match` matching the current tag on a GET: answer 304 with the tag.
    public static func notModified(_ request: Request, version: Int) -> Response? {
        guard let inm = request.headers["if-none-match"] else { return nil }
        let tag = make(version: version)
        let tags = listed(inm)
        guard tags.contains("*") || tags.contains(tag) || tags.contains("W/" + tag) else { return nil }
        return Response(status: 304, headers: ["etag": tag])
    }

    /// `If-Match` on a write: 412 unless it names the current version (or `*`).
    public static func checkIfMatch(_ request: Request, version: Int) throws {
        guard let im = request.headers["if-match"] else { return }
        let tag = make(version: version)
        let tags = listed(im)
        guard tags.contains("*") || tags.contains(tag) else {
            throw APIError(status: 412, code: "precondition_failed",
                           detail: "The resource changed since you read it (current ETag \(tag)); read it again and retry.",
                           headers: ["etag": tag])
        }
    }
}
