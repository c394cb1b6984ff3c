/// Incremental, strict parser of a request head (request line + header section), RFC 9112.
///
/// The caller keeps the unconsumed input in one buffer and calls `parse` again with the whole
/// buffer (from the start of this request) each time more bytes arrive; the parser remembers how
/// far it already scanned, so total work is linear. Limits are enforced while scanning, so an
/// oversized line is rejected before the rest of it arrives.
///
/// Scanning works on byte offsets only (one table lookup per byte, no allocation); `String`s are
/// built once, for the final `RequestHead`. After `.complete` the parser is reset automatically
/// (calling `reset()` again is harmless); after `.failure` it keeps answering the same failure
/// until `reset()`.
public struct HeadParser: Sendable {
    public enum Result: Sendable {
        case needMore
        /// `consumed` bytes (the head including its final CRLFCRLF) belong to this head.
        case complete(RequestHead, consumed: Int)
        case failure(HTTPParseError)
    }

    public let limits: HTTPLimits

    /// Empty lines (CRLF) tolerated before the request line, in bytes (RFC 9112 §2.2).
    static let maxLeadingEmptyLineBytes = 8

    enum Phase: UInt8 { case leading, method, requestLine, lineStart, name, value }

    /// Header names the parser interprets (or refuses to see twice).
    enum Kind: UInt8 { case other, host, contentLength, transferEncoding, connection, expect, contentType, authorization }

    struct Field {
        var nameStart: Int
        var nameEnd: Int
        var valueStart: Int
        var valueEnd: Int
        var kind: Kind
    }

    private var phase: Phase = .leading
    /// Next byte to examine.
    private var pos = 0
    private var lineStart = 0
    private var methodEnd = 0
    private var colon = 0
    private var headersStart = 0
    private var fields: [Field] = []
    private var failed: HTTPParseError?

    // Request-line results (offsets into the buffer).
    private var methodIndex = 0
    private var version = HTTPVersion.http11
    private var targetStart = 0
    private var targetEnd = 0
    /// `pathStart == pathEnd`: absolute-form without a path, which means `/`.
    private var pathStart = 0
    private var pathEnd = 0
    private var queryStart = -1
    private var authorityStart = -1
    private var authorityEnd = -1
    private var isAsterisk = false

    static let methodNames = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    static let optionsIndex = 6

    public init(limits: HTTPLimits) {
        self.limits = limits
        fields.reserveCapacity(16)
    }

    /// Forget any progress: the next `parse` starts a new request.
    public mutating func reset() {
        phase = .leading
        pos = 0
        failed = nil
        fields.removeAll(keepingCapacity: fields.capacity <= 128)
    }

    @inline(__always)
    private mutating func fail(_ e: HTTPParseError) -> Result {
        failed = e
        return .failure(e)
    }

    @inline(__always)
    private mutating func needMore(at i: Int) -> Result {
        pos = i
        return .needMore
    }

    public mutating func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result {
        if let e = failed { return .failure(e) }
        guard let base = bytes.baseAddress, bytes.count > pos else { return .needMore }
        let n = bytes.count
        let cls = ByteClass.table
        var i = pos
        while true {
            switch phase {
            case .leading:
                if i >= n { return needMore(at: i) }
                let c = base[i]
                if c == ASCII.cr {
                    if i + 1 >= n { return needMore(at: i) }
                    guard base[i + 1] == ASCII.lf else { return fail(.badRequest("Bare CR in the request head.")) }
                    i += 2
                    if i > Self.maxLeadingEmptyLineBytes {
                        return fail(.badRequest("Too many empty lines before the request line."))
                    }
                    continue
                }
                if c == ASCII.lf { return fail(.badRequest("Bare LF in the request head.")) }
                lineStart = i
                phase = .method

            case .method:
                let limit = lineStart + limits.maxRequestLineBytes
                let stop = min(n, limit)
                while i < stop && cls[Int(base[i])] & ByteClass.tchar != 0 { i &+= 1 }
                if i == n { return needMore(at: i) }
                if i >= limit { return fail(.badRequest("The request method is too long.")) }
                guard base[i] == ASCII.sp, i > lineStart else { return fail(.badRequest("Malformed request line.")) }
                methodEnd = i
                i += 1
                phase = .requestLine

            case .requestLine:
                let limit = lineStart + limits.maxRequestLineBytes
                let stop = min(n, limit)
                while i < stop && cls[Int(base[i])] & ByteClass.requestLine != 0 { i &+= 1 }
                if i == n { return needMore(at: i) }
                let c = base[i]
                if c == ASCII.cr {
                    if i + 1 >= n { return needMore(at: i) }
                    guard base[i + 1] == ASCII.lf else { return fail(.badRequest("Bare CR in the request head.")) }
                    if let e = parseRequestLine(base, cr: i) { return fail(e) }
                    i += 2
                    headersStart = i
                    phase = .lineStart
                    continue
                }
                if i >= limit { return fail(.uriTooLong) }
                if c == ASCII.lf { return fail(.badRequest("Bare LF in the request head.")) }
                return fail(.badRequest("Invalid character in the request line."))

            case .lineStart:
                if i >= n { return needMore(at: i) }
                let c = base[i]
                if c == ASCII.cr {
                    if i + 1 >= n { return needMore(at: i) }
                    guard base[i + 1] == ASCII.lf else { return fail(.badRequest("Bare CR in the request head.")) }
                    return finish(base, end: i + 2)
                }
                if c == ASCII.sp || c == ASCII.htab {
                    return fail(.badRequest("Folded or whitespace-prefixed header line."))
                }
                if c == ASCII.lf { return fail(.badRequest("Bare LF in the request head.")) }
                if fields.count >= limits.maxHeaderCount { return fail(.headerFieldsTooLarge) }
                lineStart = i
                phase = .name

            case .name:
                let limit = min(lineStart + limits.maxHeaderLineBytes, headersStart + limits.maxHeaderBytes)
                let stop = min(n, limit)
                while i < stop && cls[Int(base[i])] & ByteClass.tchar != 0 { i &+= 1 }
                if i == n { return needMore(at: i) }
                if i >= limit { return fail(.headerFieldsTooLarge) }
                let c = base[i]
                if c == ASCII.colon {
                    if i == lineStart { return fail(.badRequest("Empty header field name.")) }
                    colon = i
                    i += 1
                    phase = .value
                    continue
                }
                if c == ASCII.sp || c == ASCII.htab {
                    return fail(.badRequest("Whitespace between a header field name and the colon."))
                }
                return fail(.badRequest("Invalid header field name."))

            case .value:
                let limit = min(lineStart + limits.maxHeaderLineBytes, headersStart + limits.maxHeaderBytes)
                let stop = min(n, limit)
                while i < stop && cls[Int(base[i])] & ByteClass.fieldValue != 0 { i &+= 1 }
                if i == n { return needMore(at: i) }
                let c = base[i]
                if c == ASCII.cr {
                    if i + 1 >= n { return needMore(at: i) }
                    guard base[i + 1] == ASCII.lf else { return fail(.badRequest("Bare CR in the request head.")) }
                    addField(base, valueEnd: i)
                    i += 2
                    phase = .lineStart
                    continue
                }
                if i >= limit { return fail(.headerFieldsTooLarge) }
                if c == ASCII.lf { return fail(.badRequest("Bare LF in the request head.")) }
                return fail(.badRequest("Invalid character in a header field value."))
            }
        }
    }

    // MARK: - Request line

    /// Validates the complete request line `[lineStart, cr)`; the method token and its SP are
    /// already checked. Order: syntax (400), version (505), method (501), target form (400).
    private mutating func parseRequestLine(_ base: UnsafePointer<UInt8>, cr: Int) -> HTTPParseError? {
        let ts = methodEnd + 1
        var j = ts
        var q = -1
        while j < cr {
            let c = base[j]
            if c == ASCII.sp { break }
            if c == ASCII.question {
                if q < 0 { q = j }
            } else if c == ASCII.hash {
                return .badRequest("The request target must not contain a fragment.")
            }
            j += 1
        }
        let te = j
        if te == ts { return .badRequest("Malformed request line.") }
        if te == cr { return .badRequest("The request line has no HTTP version.") }

        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive, then CRLF.
        let v = te + 1
        guard cr - v == 8,
              base[v] == 0x48, base[v + 1] == 0x54, base[v + 2] == 0x54, base[v + 3] == 0x50, base[v + 4] == ASCII.slash,
              base[v + 5] &- 0x30 < 10, base[v + 6] == 0x2E, base[v + 7] &- 0x30 < 10
        else { return .badRequest("Malformed HTTP version.") }
        if base[v + 5] != 0x31 { return .versionNotSupported }
        version = base[v + 7] == 0x30 ? .http10 : .http11

        guard let m = Self.knownMethod(base + lineStart, methodEnd - lineStart) else {
            return .notImplemented("The request method is not implemented.")
        }
        methodIndex = m
        targetStart = ts
        targetEnd = te
        isAsterisk = false
        authorityStart = -1
        authorityEnd = -1
        queryStart = q < 0 ? -1 : q + 1

        let first = base[ts]
        if first == ASCII.slash {
            pathStart = ts
            pathEnd = q < 0 ? te : q
            return nil
        }
        if first == ASCII.star && te - ts == 1 {
            guard m == Self.optionsIndex else { return .badRequest("The asterisk form is only allowed with OPTIONS.") }
            isAsterisk = true
            pathStart = ts
            pathEnd = te
            return nil
        }
        // absolute-form: http(s)://authority[/path][?query]
        var k = ts
        while k < te, Self.isSchemeChar(base[k], first: k == ts) { k += 1 }
        guard k + 3 <= te, base[k] == ASCII.colon, base[k + 1] == ASCII.slash, base[k + 2] == ASCII.slash,
              Self.isHTTPScheme(base + ts, k - ts)
        else { return .badRequest("Unsupported request target form.") }
        let aStart = k + 3
        var aEnd = aStart
        while aEnd < te && base[aEnd] != ASCII.slash && base[aEnd] != ASCII.question { aEnd += 1 }
        guard Self.isValidHost(base, aStart, aEnd) else { return .badRequest("Invalid authority in the request target.") }
        authorityStart = aStart
        authorityEnd = aEnd
        pathStart = aEnd
        pathEnd = q < 0 ? te : q
        return nil
    }

    @inline(__always)
    private static func isSchemeChar(_ c: UInt8, first: Bool) -> Bool {
        let l = c | 0x20
        if l >= 0x61 && l <= 0x7A { return true }
        if first { return false }
        return (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2D || c == 0x2E
    }

    private static func isHTTPScheme(_ p: UnsafePointer<UInt8>, _ len: Int) -> Bool {
        guard len == 4 || len == 5 else { return false }
        guard p[0] | 0x20 == 0x68, p[1] | 0x20 == 0x74, p[2] | 0x20 == 0x74, p[3] | 0x20 == 0x70 else { return false }
        return len == 4 || p[4] | 0x20 == 0x73
    }

    /// Index into `methodNames`, or nil (→ 501). Case-sensitive.
    @inline(__always)
    private static func knownMethod(_ p: UnsafePointer<UInt8>, _ len: Int) -> Int? {
        switch len {
        case 3:
            if p[0] == 0x47 && p[1] == 0x45 && p[2] == 0x54 { return 0 } // GET
            if p[0] == 0x50 && p[1] == 0x55 && p[2] == 0x54 { return 3 } // PUT
        case 4:
            if p[0] == 0x48 && p[1] == 0x45 && p[2] == 0x41 && p[3] == 0x44 { return 1 } // HEAD
            if p[0] == 0x50 && p[1] == 0x4F && p[2] == 0x53 && p[3] == 0x54 { return 2 } // POST
        case 5:
            if equals(p, len, "PATCH") { return 5 }
        case 6:
            if equals(p, len, "DELETE") { return 4 }
        case 7:
            if equals(p, len, "OPTIONS") { return 6 }
        default:
            break
        }
        return nil
    }

    @inline(__always)
    private static func equals(_ p: UnsafePointer<UInt8>, _ len: Int, _ s: StaticString) -> Bool {
        guard len == s.utf8CodeUnitCount else { return false }
        let q = s.utf8Start
        for k in 0..<len where p[k] != q[k] { return false }
        return true
    }

    /// Case-insensitive comparison with a lowercase ASCII literal made of letters, digits and '-'.
    @inline(__always)
    static func equalsLower(_ p: UnsafePointer<UInt8>, _ len: Int, _ s: StaticString) -> Bool {
        guard len == s.utf8CodeUnitCount else { return false }
        let q = s.utf8Start
        for k in 0..<len where p[k] | 0x20 != q[k] { return false }
        return true
    }

    /// uri-host [":" port]: IP-literal or reg-name (unreserved / pct-encoded / sub-delims except ','),
    /// port of at most 5 digits. Rejects empty hosts, userinfo, paths, whitespace.
    static func isValidHost(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        let cls = ByteClass.table
        var i = start
        if i >= end { return false }
        if base[i] == ASCII.lbracket {
            i += 1
            let inner = i
            while i < end && base[i] != ASCII.rbracket {
                let c = base[i]
                guard cls[Int(c)] & ByteClass.host != 0, c != ASCII.percent else { return false }
                i += 1
            }
            guard i < end, i > inner else { return false }
            i += 1 // ']'
        } else {
            let nameStart = i
            while i < end && base[i] != ASCII.colon {
                let c = base[i]
                guard cls[Int(c)] & ByteClass.host != 0 else { return false }
                if c == ASCII.percent {
                    guard i + 2 < end, cls[Int(base[i + 1])] & ByteClass.hex != 0,
                          cls[Int(base[i + 2])] & ByteClass.hex != 0 else { return false }
                    i += 2
                }
                i += 1
            }
            if i == nameStart { return false }
        }
        if i == end { return true }
        guard base[i] == ASCII.colon else { return false }
        i += 1
        guard end - i <= 5 else { return false }
        while i < end {
            guard cls[Int(base[i])] & ByteClass.digit != 0 else { return false }
            i += 1
        }
        return true
    }

    // MARK: - Header section

    @inline(__always)
    private mutating func addField(_ base: UnsafePointer<UInt8>, valueEnd end: Int) {
        var vs = colon + 1
        var ve = end
        while vs < ve && (base[vs] == ASCII.sp || base[vs] == ASCII.htab) { vs += 1 }
        while ve > vs && (base[ve - 1] == ASCII.sp || base[ve - 1] == ASCII.htab) { ve -= 1 }
        let kind = Self.classify(base + lineStart, colon - lineStart)
        fields.append(Field(nameStart: lineStart, nameEnd: colon, valueStart: vs, valueEnd: ve, kind: kind))
    }

    @inline(__always)
    private static func classify(_ p: UnsafePointer<UInt8>, _ len: Int) -> Kind {
        switch len {
        case 4: return equalsLower(p, len, "host") ? .host : .other
        case 6: return equalsLower(p, len, "expect") ? .expect : .other
        case 10: return equalsLower(p, len, "connection") ? .connection : .other
        case 12: return equalsLower(p, len, "content-type") ? .contentType : .other
        case 13: return equalsLower(p, len, "authorization") ? .authorization : .other
        case 14: return equalsLower(p, len, "content-length") ? .contentLength : .other
        case 17: return equalsLower(p, len, "transfer-encoding") ? .transferEncoding : .other
        default: return .other
        }
    }

    private static func knownName(_ kind: Kind) -> String? {
        switch kind {
        case .other: nil
        case .host: "host"
        case .contentLength: "content-length"
        case .transferEncoding: "transfer-encoding"
        case .connection: "connection"
        case .expect: "expect"
        case .contentType: "content-type"
        case .authorization: "authorization"
        }
    }

    /// Calls `body(start, end)` for every element of a comma-separated list, OWS trimmed
    /// (empty elements included).
    @inline(__always)
    private static func forEachElement(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int,
                                       _ body: (Int, Int) -> Void) {
        var s = start
        while true {
            var e = s
            while e < end && base[e] != ASCII.comma { e += 1 }
            var a = s, b = e
            while a < b && (base[a] == ASCII.sp || base[a] == ASCII.htab) { a += 1 }
            while b > a && (base[b - 1] == ASCII.sp || base[b - 1] == ASCII.htab) { b -= 1 }
            body(a, b)
            if e >= end { return }
            s = e + 1
        }
    }

    @inline(__always)
    private static func string(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: base + start, count: end - start), as: UTF8.self)
    }

    /// The complete head ends before `end`: semantic checks (Host, framing, Connection, Expect),
    /// then the `RequestHead` is built.
    private mutating func finish(_ base: UnsafePointer<UInt8>, end: Int) -> Result {
        var hostCount = 0, hostIndex = -1
        var clCount = 0, clIndex = -1
        var teCount = 0, ctCount = 0, authCount = 0
        var hasConnection = false, hasExpect = false
        for (k, f) in fields.enumerated() {
            switch f.kind {
            case .other: break
            case .host: hostCount += 1; hostIndex = k
            case .contentLength: clCount += 1; clIndex = k
            case .transferEncoding: teCount += 1
            case .connection: hasConnection = true
            case .expect: hasExpect = true
            case .contentType: ctCount += 1
            case .authorization: authCount += 1
            }
        }
        let http11 = version.minor >= 1

        // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0, well-formed.
        if hostCount > 1 { return fail(.badRequest("Duplicate Host header.")) }
        if hostCount == 0 && http11 { return fail(.badRequest("Missing Host header.")) }
        if hostCount == 1 {
            let f = fields[hostIndex]
            guard Self.isValidHost(base, f.valueStart, f.valueEnd) else { return fail(.badRequest("Invalid Host header.")) }
        }
        if ctCount > 1 { return fail(.badRequest("Duplicate Content-Type header.")) }
        if authCount > 1 { return fail(.badRequest("Duplicate Authorization header.")) }

        // Framing (RFC 9112 §6.1–6.3).
        let framing: BodyFraming
        if teCount > 0 {
            if !http11 { return fail(.badRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request.")) }
            if clCount > 0 { return fail(.badRequest("Both Transfer-Encoding and Content-Length are present.")) }
            var elements = 0, empty = 0, chunked = 0, unknown = 0
            var lastIsChunked = false
            for f in fields where f.kind == .transferEncoding {
                Self.forEachElement(base, f.valueStart, f.valueEnd) { a, b in
                    if a == b {
                        empty += 1
                        return
                    }
                    elements += 1
                    if Self.equalsLower(base + a, b - a, "chunked") {
                        chunked += 1
                        lastIsChunked = true
                    } else {
                        unknown += 1
                        lastIsChunked = false
                    }
                }
            }
            if elements == 0 { return fail(.notImplemented("Unsupported transfer coding.")) }
            if empty > 0 { return fail(.badRequest("Malformed Transfer-Encoding.")) }
            if chunked > 1 || (chunked == 1 && !lastIsChunked) {
                return fail(.badRequest("chunked must be the final transfer coding, once."))
            }
            if unknown > 0 { return fail(.notImplemented("Unsupported transfer coding.")) }
            framing = .chunked
        } else if clCount > 1 {
            return fail(.badRequest("Duplicate Content-Length header."))
        } else if clCount == 1 {
            let f = fields[clIndex]
            let len = f.valueEnd - f.valueStart
            guard len > 0 && len <= 18 else { return fail(.badRequest("Invalid Content-Length.")) }
            var value = 0
            for k in f.valueStart..<f.valueEnd {
                let d = base[k] &- 0x30
                guard d < 10 else { return fail(.badRequest("Invalid Content-Length.")) }
                value = value &* 10 &+ Int(d)
            }
            framing = .contentLength(value)
        } else {
            framing = .none
        }

        // Persistence (RFC 9112 §9.3).
        var keepAlive = http11
        if hasConnection {
            var close = false, keep = false
            for f in fields where f.kind == .connection {
                Self.forEachElement(base, f.valueStart, f.valueEnd) { a, b in
                    if Self.equalsLower(base + a, b - a, "close") { close = true }
                    else if Self.equalsLower(base + a, b - a, "keep-alive") { keep = true }
                }
            }
            keepAlive = close ? false : (http11 || keep)
        }

        // Expect (RFC 9110 §10.1.1): only 100-continue; ignored in HTTP/1.0.
        var expectContinue = false
        if hasExpect {
            var ok = 0, bad = 0
            for f in fields where f.kind == .expect {
                Self.forEachElement(base, f.valueStart, f.valueEnd) { a, b in
                    if a == b { return }
                    if Self.equalsLower(base + a, b - a, "100-continue") { ok += 1 } else { bad += 1 }
                }
            }
            if bad > 0 || ok == 0 { return fail(.expectationFailed) }
            expectContinue = http11
        }

        // Materialise.
        let target = Self.string(base, targetStart, targetEnd)
        let path: String
        if isAsterisk {
            path = "*"
        } else if pathStart == pathEnd {
            path = "/"
        } else if pathStart == targetStart && pathEnd == targetEnd {
            path = target
        } else {
            path = Self.string(base, pathStart, pathEnd)
        }
        let query = queryStart < 0 ? nil : Self.string(base, queryStart, targetEnd)
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count)
        var hostValue: String?
        for f in fields {
            let name: String
            if let known = Self.knownName(f.kind) {
                name = known
            } else {
                let len = f.nameEnd - f.nameStart
                let p = base + f.nameStart
                name = String(unsafeUninitializedCapacity: len) { buf in
                    for k in 0..<len {
                        let c = p[k]
                        buf[k] = (c &- 0x41) < 26 ? c | 0x20 : c
                    }
                    return len
                }
            }
            let value = Self.string(base, f.valueStart, f.valueEnd)
            if f.kind == .host { hostValue = value }
            headers.appendLowercased(name: name, value: value)
        }
        var head = RequestHead(method: Self.methodNames[methodIndex], target: target, path: path, query: query,
                               version: version, headers: headers, framing: framing,
                               keepAlive: keepAlive, expectContinue: expectContinue)
        head.authority = authorityStart >= 0 ? Self.string(base, authorityStart, authorityEnd) : hostValue
        reset()
        return .complete(head, consumed: end)
    }
}
