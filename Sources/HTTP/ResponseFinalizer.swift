/// What every response gets regardless of route, applied once on the thread that produced it
/// (handler thread for worker routes, the loop for loop routes): request id, CORS, gzip.
struct ResponseFinalizer: Sendable {
    let corsOrigins: Set<String>
    let corsAny: Bool
    let gzipMinBytes: Int

    init(config: ServerConfig) {
        corsOrigins = Set(config.corsOrigins.filter { $0 != "*" })
        corsAny = config.corsOrigins.contains("*")
        gzipMinBytes = config.gzipMinBytes
    }

    static let exposedHeaders = "ETag, Link, Location, Retry-After, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"

    func allowedOrigin(_ head: RequestHead) -> String? {
        guard corsAny || !corsOrigins.isEmpty, let origin = head.headers["origin"] else { return nil }
        if corsOrigins.contains(origin) { return origin }
        return corsAny ? "*" : nil
    }

    func finalize(_ response: inout Response, head: RequestHead, requestID: String) {
        response.headers.set("x-request-id", requestID)
        if let origin = allowedOrigin(head) {
            response.headers.set("access-control-allow-origin", origin)
            response.headers.set("access-control-expose-headers", Self.exposedHeaders)
            if origin != "*" { response.headers.add("vary", "Origin") }
        }
        maybeGzip(&response, head: head)
    }

    private func maybeGzip(_ response: inout Response, head: RequestHead) {
        guard response.body.count >= gzipMinBytes, response.headers["content-encoding"] == nil,
              Self.compressible(response.headers["content-type"]) else { return }
        response.headers.add("vary", "Accept-Encoding")
        guard Self.acceptsGzip(head.headers["accept-encoding"]),
              let zipped = Gzip.compress(response.body), zipped.count < response.body.count else { return }
        response.body = zipped
        response.headers.set("content-encoding", "gzip")
        if let etag = response.headers["etag"], !etag.hasPrefix("W/") {
            // The representation changed, so a strong validator must change with it (RFC 9110 §8.8.3).
            response.headers.set("etag", etag.dropLast() + "-gzip\"")
        }
    }

    static func compressible(_ contentType: String?) -> Bool {
        guard let ct = contentType?.lowercased() else { return false }
        return ct.hasPrefix("text/") || ct.contains("json") || ct.contains("yaml") || ct.contains("xml")
            || ct.contains("csv") || ct.contains("javascript")
    }

    /// True when `gzip` (or `*`) is listed with a non-zero q.
    static func acceptsGzip(_ value: String?) -> Bool {
        guard let value else { return false }
        for part in value.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingASCIIWhitespace().lowercased() }
            guard let coding = pieces.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let q = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
