// Table-driven tests of HeadParser: reference/http-server.md §(a) rows A–G and the limits of row H.
import XCTest
import HTTP

// Helpers are private to this file so that they cannot clash with other test files of the module.

private func hpBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// What a head row must produce.
private enum HPExpectation {
    case status(Int)
    case head(HPExpectedHead)
    case needMore
}

private struct HPExpectedHead {
    var method = "GET"
    var target: String?
    var path = "/"
    var query: String?
    var version = HTTPVersion.http11
    var framing = BodyFraming.none
    var keepAlive = true
    var expectContinue = false
    /// Exact header list (lowercased names, trimmed values) when non-nil.
    var headers: [(String, String)]?
    /// Checked when non-nil; `.some(nil)` asserts no authority.
    var authority: String??
    /// Defaults to the whole input.
    var consumed: Int?
}

private struct HPRow {
    let id: String
    let raw: [UInt8]
    let expected: HPExpectation
    var limits = HTTPLimits()
    let line: UInt
}

private enum HPOutcome: Equatable {
    case needMore
    case failure(HTTPParseError)
    case complete(Summary, consumed: Int)

    struct Summary: Equatable {
        var method, target, path: String
        var query: String?
        var version: HTTPVersion
        var framing: BodyFraming
        var keepAlive, expectContinue: Bool
        var headers: [String]
        var authority: String?
    }

    init(_ r: HeadParser.Result) {
        switch r {
        case .needMore: self = .needMore
        case .failure(let e): self = .failure(e)
        case .complete(let h, let consumed):
            self = .complete(Summary(method: h.method, target: h.target, path: h.path, query: h.query,
                                     version: h.version, framing: h.framing, keepAlive: h.keepAlive,
                                     expectContinue: h.expectContinue,
                                     headers: h.headers.fields.map { "\($0.name): \($0.value)" },
                                     authority: h.authority), consumed: consumed)
        }
    }
}

/// Parses `raw` in one call.
private func hpParseWhole(_ raw: [UInt8], limits: HTTPLimits = HTTPLimits()) -> HeadParser.Result {
    var p = HeadParser(limits: limits)
    return raw.withUnsafeBufferPointer { p.parse($0) }
}

/// Feeds `raw` growing by `step` bytes per call (a fresh copy of the prefix each time, as a caller
/// that reallocates its buffer would), stopping at the first result that is not `.needMore`.
private func hpParseIncrementally(_ raw: [UInt8], step: Int = 1, limits: HTTPLimits = HTTPLimits(),
                        parser: inout HeadParser) -> HeadParser.Result {
    var k = 0
    while k < raw.count {
        k = min(raw.count, k + step)
        let prefix = Array(raw[0..<k])
        let r = prefix.withUnsafeBufferPointer { parser.parse($0) }
        if case .needMore = r { continue }
        return r
    }
    return .needMore
}

private func hpParseIncrementally(_ raw: [UInt8], step: Int = 1, limits: HTTPLimits = HTTPLimits()) -> HeadParser.Result {
    var p = HeadParser(limits: limits)
    return hpParseIncrementally(raw, step: step, limits: limits, parser: &p)
}

private func hpCheck(_ row: HPRow, _ result: HeadParser.Result, mode: String, file: StaticString = #filePath) {
    let where_ = "[\(row.id)] (\(mode))"
    switch (row.expected, result) {
    case (.status(let s), .failure(let e)):
        XCTAssertEqual(e.status, s, "\(where_) wrong status for \(e)", file: file, line: row.line)
    case (.needMore, .needMore):
        break
    case (.head(let x), .complete(let h, let consumed)):
        XCTAssertEqual(h.method, x.method, "\(where_) method", file: file, line: row.line)
        XCTAssertEqual(h.path, x.path, "\(where_) path", file: file, line: row.line)
        XCTAssertEqual(h.query, x.query, "\(where_) query", file: file, line: row.line)
        XCTAssertEqual(h.version, x.version, "\(where_) version", file: file, line: row.line)
        XCTAssertEqual(h.framing, x.framing, "\(where_) framing", file: file, line: row.line)
        XCTAssertEqual(h.keepAlive, x.keepAlive, "\(where_) keepAlive", file: file, line: row.line)
        XCTAssertEqual(h.expectContinue, x.expectContinue, "\(where_) expectContinue", file: file, line: row.line)
        XCTAssertEqual(consumed, x.consumed ?? row.raw.count, "\(where_) consumed", file: file, line: row.line)
        if let t = x.target { XCTAssertEqual(h.target, t, "\(where_) target", file: file, line: row.line) }
        if let a = x.authority { XCTAssertEqual(h.authority, a, "\(where_) authority", file: file, line: row.line) }
        if let hs = x.headers {
            XCTAssertEqual(h.headers.fields.map { "\($0.name): \($0.value)" }, hs.map { "\($0.0): \($0.1)" },
                           "\(where_) headers", file: file, line: row.line)
        }
    default:
        XCTFail("\(where_) expected \(row.expected), got \(result)", file: file, line: row.line)
    }
}

// MARK: - Rows

/// Row builders live in this namespace so that short names (`ok`, `bad`, `H`) cannot clash with other files.
private enum HeadRows {
    static let H = "Host: a\r\n"

    static func ok(_ id: String, _ raw: String, method: String = "GET", target: String? = nil, path: String = "/",
                    query: String? = nil, version: HTTPVersion = .http11, framing: BodyFraming = .none,
                    keepAlive: Bool? = nil, expectContinue: Bool = false, headers: [(String, String)]? = nil,
                    authority: String?? = nil, consumed: Int? = nil, limits: HTTPLimits = HTTPLimits(),
                    line: UInt = #line) -> HPRow {
        okBytes(id, hpBytes(raw), method: method, target: target, path: path, query: query, version: version,
                framing: framing, keepAlive: keepAlive, expectContinue: expectContinue, headers: headers,
                authority: authority, consumed: consumed, limits: limits, line: line)
    }

    static func okBytes(_ id: String, _ raw: [UInt8], method: String = "GET", target: String? = nil, path: String = "/",
                         query: String? = nil, version: HTTPVersion = .http11, framing: BodyFraming = .none,
                         keepAlive: Bool? = nil, expectContinue: Bool = false, headers: [(String, String)]? = nil,
                         authority: String?? = nil, consumed: Int? = nil, limits: HTTPLimits = HTTPLimits(),
                         line: UInt = #line) -> HPRow {
        let x = HPExpectedHead(method: method, target: target, path: path, query: query, version: version, framing: framing,
                             keepAlive: keepAlive ?? (version == .http11), expectContinue: expectContinue,
                             headers: headers, authority: authority, consumed: consumed)
        return HPRow(id: id, raw: raw, expected: .head(x), limits: limits, line: line)
    }

    static func bad(_ id: String, _ raw: String, _ status: Int, limits: HTTPLimits = HTTPLimits(), line: UInt = #line) -> HPRow {
        HPRow(id: id, raw: hpBytes(raw), expected: .status(status), limits: limits, line: line)
    }

    static func badBytes(_ id: String, _ raw: [UInt8], _ status: Int, limits: HTTPLimits = HTTPLimits(), line: UInt = #line) -> HPRow {
        HPRow(id: id, raw: raw, expected: .status(status), limits: limits, line: line)
    }

    static func pending(_ id: String, _ raw: String, limits: HTTPLimits = HTTPLimits(), line: UInt = #line) -> HPRow {
        HPRow(id: id, raw: hpBytes(raw), expected: .needMore, limits: limits, line: line)
    }

    /// Small limits so that limit rows stay short: request line 32, header line 16, section 64, 4 fields.
    static let small: HTTPLimits = {
        var l = HTTPLimits()
        l.maxRequestLineBytes = 32
        l.maxHeaderLineBytes = 16
        l.maxHeaderBytes = 64
        l.maxHeaderCount = 4
        return l
    }()

    static let all: [HPRow] = [
        // A. Message syntax and request line
        ok("A1 simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", target: "/", headers: [("host", "a")], authority: .some("a")),
        ok("A1 path and query", "GET /a/b?x=1&y=2 HTTP/1.1\r\n\(H)\r\n", target: "/a/b?x=1&y=2", path: "/a/b", query: "x=1&y=2"),
        ok("A1 empty query", "GET /a? HTTP/1.1\r\n\(H)\r\n", path: "/a", query: ""),
        ok("A1 second ? stays in query", "GET /a?b?c HTTP/1.1\r\n\(H)\r\n", path: "/a", query: "b?c"),
        ok("A1 percent-encoding kept", "GET /a%20b/%2F HTTP/1.1\r\n\(H)\r\n", path: "/a%20b/%2F"),
        ok("A1 unusual but visible target chars", "GET /a|b{c}~'!$&()*+,;=:@ HTTP/1.1\r\n\(H)\r\n", path: "/a|b{c}~'!$&()*+,;=:@"),
        ok("A1 HEAD", "HEAD /x HTTP/1.1\r\n\(H)\r\n", method: "HEAD", path: "/x"),
        ok("A1 POST", "POST /x HTTP/1.1\r\n\(H)Content-Length: 0\r\n\r\n", method: "POST", path: "/x", framing: .contentLength(0)),
        ok("A1 PUT", "PUT /x HTTP/1.1\r\n\(H)\r\n", method: "PUT", path: "/x"),
        ok("A1 DELETE", "DELETE /x HTTP/1.1\r\n\(H)\r\n", method: "DELETE", path: "/x"),
        ok("A1 PATCH", "PATCH /x HTTP/1.1\r\n\(H)\r\n", method: "PATCH", path: "/x"),
        ok("A1 OPTIONS path", "OPTIONS /x HTTP/1.1\r\n\(H)\r\n", method: "OPTIONS", path: "/x"),
        bad("A2 double SP after method", "GET  / HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A2 double SP before version", "GET /  HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A2 TAB after method", "GET\t/ HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A2 TAB before version", "GET /\tHTTP/1.1\r\n\(H)\r\n", 400),
        bad("A2 VT separator", "GET\u{0B}/ HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A2 FF separator", "GET /\u{0C}HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A2 trailing SP after version", "GET / HTTP/1.1 \r\n\(H)\r\n", 400),
        bad("A2 leading SP before method", " GET / HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A3 NUL in target", "GET /a\0b HTTP/1.1\r\n\(H)\r\n", 400),
        badBytes("A3 raw UTF-8 in target", hpBytes("GET /caf") + [0xC3, 0xA9] + hpBytes(" HTTP/1.1\r\n\(H)\r\n"), 400),
        badBytes("A3 obs-text byte in target", hpBytes("GET /") + [0xFF] + hpBytes(" HTTP/1.1\r\n\(H)\r\n"), 400),
        bad("A3 DEL in target", "GET /a\u{7F} HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A3 CTL in target", "GET /a\u{01} HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A3 space inside target", "GET /a b HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A4 request line over the limit", "GET /0123456789012345678901234 HTTP/1.1\r\n\r\n", 414, limits: small),
        ok("A5 request line exactly at the limit", "GET /012345678901234567 HTTP/1.1\r\n\(H)\r\n", path: "/012345678901234567", limits: small),
        bad("A5 one byte over the limit", "GET /0123456789012345678 HTTP/1.1\r\n\(H)\r\n", 414, limits: small),
        bad("A6 unknown method FOO", "FOO / HTTP/1.1\r\n\(H)\r\n", 501),
        bad("A6 lowercase get", "get / HTTP/1.1\r\n\(H)\r\n", 501),
        bad("A6 mixed-case Get", "Get / HTTP/1.1\r\n\(H)\r\n", 501),
        bad("A6 GETS is not GET", "GETS / HTTP/1.1\r\n\(H)\r\n", 501),
        bad("A6 token with tchar symbols", "M-SEARCH * HTTP/1.1\r\n\(H)\r\n", 501),
        bad("A7 long method token", "\(String(repeating: "X", count: 300)) / HTTP/1.1\r\n\(H)\r\n", 501),
        bad("A7 method longer than the request-line limit", "\(String(repeating: "X", count: 40)) / HTTP/1.1\r\n\r\n", 400, limits: small),
        bad("A7 method with non-token byte", "GE@T / HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A8 HTTP/2.0", "GET / HTTP/2.0\r\n\(H)\r\n", 505),
        bad("A8 HTTP/3.0", "GET / HTTP/3.0\r\n\(H)\r\n", 505),
        bad("A8 h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        bad("A8 HTTP/0.9 spelled out", "GET / HTTP/0.9\r\n\(H)\r\n", 505),
        bad("A8 HTTP/9.9", "GET / HTTP/9.9\r\n\(H)\r\n", 505),
        ok("A9 HTTP/1.2 treated as 1.1", "GET / HTTP/1.2\r\n\(H)\r\n", version: .http11),
        ok("A9 HTTP/1.9 treated as 1.1", "GET / HTTP/1.9\r\n\(H)\r\n", version: .http11, keepAlive: true),
        bad("A10 lowercase http/1.1", "GET / http/1.1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/01.1", "GET / HTTP/01.1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/1", "GET / HTTP/1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/ 1.1", "GET / HTTP/ 1.1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/1.1.1", "GET / HTTP/1.1.1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/1,1", "GET / HTTP/1,1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/a.b", "GET / HTTP/a.b\r\n\(H)\r\n", 400),
        bad("A10 HTTPS/1.1", "GET / HTTPS/1.1\r\n\(H)\r\n", 400),
        bad("A10 HTTP/11", "GET / HTTP/11\r\n\(H)\r\n", 400),
        bad("A11 HTTP/0.9 request line", "GET /\r\n\r\n", 400),
        bad("A11 method only", "GET\r\n\r\n", 400),
        bad("A11 method and SP only", "GET \r\n\r\n", 400),
        ok("A12 one leading empty line", "\r\nGET / HTTP/1.1\r\n\(H)\r\n"),
        ok("A12 four leading empty lines", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\(H)\r\n"),
        bad("A12 five leading empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A12 leading bare LF", "\nGET / HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A13 bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
        bad("A13 bare LF after header line", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
        bad("A13 bare LF as final empty line", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
        bad("A13 all bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400),
        bad("A14 bare CR in request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
        bad("A14 bare CR in target", "GET /a\rb HTTP/1.1\r\n\(H)\r\n", 400),
        bad("A14 bare CR in header value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
        bad("A14 CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400),
        bad("A14 bare CR in header name", "GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n", 400),
        bad("A14 bare CR at end of head", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400),
        bad("A15 whitespace line before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
        bad("A15 tab-prefixed line before first header", "GET / HTTP/1.1\r\n\tX: 1\r\n\(H)\r\n", 400),
        badBytes("A16 TLS ClientHello", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03], 400),
        badBytes("A16 binary junk", [0xFF, 0xFE, 0x00, 0x01], 400),
        bad("A16 JSON instead of HTTP", "{\"a\":1}\r\n\r\n", 400),

        // B. Header fields
        bad("B1 SP before colon in Host", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        bad("B1 SP before colon in Transfer-Encoding", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding : chunked\r\n\r\n", 400),
        bad("B1 TAB before colon", "GET / HTTP/1.1\r\n\(H)X-A\t: 1\r\n\r\n", 400),
        bad("B2 obs-fold with SP", "GET / HTTP/1.1\r\n\(H)X: 1\r\n 2\r\n\r\n", 400),
        bad("B2 obs-fold with HTAB", "GET / HTTP/1.1\r\n\(H)X: 1\r\n\t2\r\n\r\n", 400),
        bad("B3 brackets in name", "GET / HTTP/1.1\r\n\(H)X[1]: v\r\n\r\n", 400),
        bad("B3 @ in name", "GET / HTTP/1.1\r\n\(H)Fo@: v\r\n\r\n", 400),
        badBytes("B3 non-ASCII name", hpBytes("GET / HTTP/1.1\r\n\(H)X") + [0xC3, 0xA9] + hpBytes(": v\r\n\r\n"), 400),
        bad("B3 empty name", "GET / HTTP/1.1\r\n\(H): x\r\n\r\n", 400),
        bad("B3 no colon", "GET / HTTP/1.1\r\n\(H)Foo\r\n\r\n", 400),
        bad("B3 space inside name", "GET / HTTP/1.1\r\n\(H)Foo Bar: x\r\n\r\n", 400),
        bad("B3 slash in name", "GET / HTTP/1.1\r\n\(H)a/b: x\r\n\r\n", 400),
        bad("B4 NUL in value", "GET / HTTP/1.1\r\n\(H)X: a\0b\r\n\r\n", 400),
        bad("B4 bare LF in value", "GET / HTTP/1.1\r\n\(H)X: a\nb\r\n\r\n", 400),
        bad("B5 SOH in value", "GET / HTTP/1.1\r\n\(H)X: a\u{01}b\r\n\r\n", 400),
        bad("B5 DEL in value", "GET / HTTP/1.1\r\n\(H)X: a\u{7F}\r\n\r\n", 400),
        bad("B5 ESC in value", "GET / HTTP/1.1\r\n\(H)X: \u{1B}[0m\r\n\r\n", 400),
        ok("B5 HTAB inside value allowed", "GET / HTTP/1.1\r\n\(H)X: a\tb\r\n\r\n", headers: [("host", "a"), ("x", "a\tb")]),
        okBytes("B5 obs-text in value allowed", hpBytes("GET / HTTP/1.1\r\n\(H)X: caf") + [0xC3, 0xA9] + hpBytes("\r\n\r\n"),
                headers: [("host", "a"), ("x", "café")]),
        ok("B6 OWS around value trimmed", "POST / HTTP/1.1\r\n\(H)Content-Length:  5 \r\n\r\n", method: "POST",
           framing: .contentLength(5), headers: [("host", "a"), ("content-length", "5")]),
        ok("B6 tabs and spaces trimmed, inner kept", "GET / HTTP/1.1\r\n\(H)X:\t a  b \t\r\n\r\n", headers: [("host", "a"), ("x", "a  b")]),
        ok("B6 empty value", "GET / HTTP/1.1\r\n\(H)X:\r\nY: \r\n\r\n", headers: [("host", "a"), ("x", ""), ("y", "")]),
        ok("B6 colon inside value", "GET / HTTP/1.1\r\n\(H)X: a:b: c\r\n\r\n", headers: [("host", "a"), ("x", "a:b: c")]),
        bad("B7 header line over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcd\r\n\r\n", 431, limits: small),
        ok("B7 header line exactly at the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abc\r\n\r\n",
           headers: [("host", "a"), ("x", "0123456789abc")], limits: small),
        bad("B7 header name over the limit", "GET / HTTP/1.1\r\nHost: a\r\nXXXXXXXXXXXXXXXXXXXX: 1\r\n\r\n", 431, limits: small),
        bad("B8 header section over the limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\nD: 0123456789\r\n\r\n",
            431, limits: { var l = small; l.maxHeaderCount = 10; return l }()),
        ok("B8 header section just under the limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\nD: 0\r\n\r\n",
           limits: { var l = small; l.maxHeaderCount = 10; return l }()),
        bad("B9 more fields than the limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431, limits: small),
        ok("B9 fields exactly at the limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
           headers: [("host", "a"), ("a", "1"), ("b", "2"), ("c", "3")], limits: small),
        ok("B10 repeated list field kept in order", "GET / HTTP/1.1\r\n\(H)Accept: a\r\nX: 0\r\nAccept: b\r\n\r\n",
           headers: [("host", "a"), ("accept", "a"), ("x", "0"), ("accept", "b")]),
        bad("B10 duplicate Content-Type", "POST / HTTP/1.1\r\n\(H)Content-Type: a/b\r\nContent-Type: a/b\r\n\r\n", 400),
        bad("B10 duplicate Authorization", "GET / HTTP/1.1\r\n\(H)Authorization: x\r\nauthorization: y\r\n\r\n", 400),
        ok("B11 names case-insensitive, lowercased", "POST / HTTP/1.1\r\nHOST: a\r\nconTENT-Length: 3\r\nX-Custom-Header: MiXed\r\n\r\n",
           method: "POST", framing: .contentLength(3),
           headers: [("host", "a"), ("content-length", "3"), ("x-custom-header", "MiXed")]),
        ok("B11 all tchar symbols in a name", "GET / HTTP/1.1\r\n\(H)X!#$%&'*+-.^_`|~Z9: v\r\n\r\n",
           headers: [("host", "a"), ("x!#$%&'*+-.^_`|~z9", "v")]),

        // C. Host and request-target forms
        bad("C1 HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400),
        bad("C1 HTTP/1.1 with other headers, no Host", "GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400),
        bad("C2 two identical Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        bad("C2 two different Host lines", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
        bad("C2 Host list a, b", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
        bad("C2 Host list a,b", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
        bad("C2 duplicate Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        bad("C3 Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        bad("C3 Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
        bad("C3 Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        bad("C3 empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
        bad("C3 Host with non-numeric port", "GET / HTTP/1.1\r\nHost: a:http\r\n\r\n", 400),
        bad("C3 Host with six-digit port", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400),
        bad("C3 Host unterminated IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        bad("C3 Host bad percent-encoding", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
        bad("C3 Host only a port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
        badBytes("C3 Host with non-ASCII", hpBytes("GET / HTTP/1.1\r\nHost: ") + [0xC3, 0xA9] + hpBytes("\r\n\r\n"), 400),
        ok("C3 Host with port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", authority: .some("example.com:8080")),
        ok("C3 Host IPv4", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", authority: .some("127.0.0.1")),
        ok("C3 Host IPv6 literal with port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", authority: .some("[::1]:8080")),
        ok("C3 Host punycode", "GET / HTTP/1.1\r\nHost: xn--80ak6aa92e.com\r\n\r\n", authority: .some("xn--80ak6aa92e.com")),
        ok("C4 HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", version: .http10, keepAlive: false, headers: [], authority: .some(nil)),
        ok("C4 HTTP/1.0 with Host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", version: .http10, authority: .some("a")),
        ok("C5 absolute-form overrides Host", "GET http://a/x?y HTTP/1.1\r\nHost: b\r\n\r\n", target: "http://a/x?y",
           path: "/x", query: "y", authority: .some("a")),
        ok("C5 absolute-form without path", "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", target: "http://a", path: "/", authority: .some("a")),
        ok("C5 absolute-form with port and query, no path", "GET HTTP://A:8080?q HTTP/1.1\r\nHost: a\r\n\r\n", path: "/", query: "q",
           authority: .some("A:8080")),
        ok("C5 absolute-form https", "GET https://a.example/p/q HTTP/1.1\r\nHost: a.example\r\n\r\n", path: "/p/q"),
        bad("C5 absolute-form with other scheme", "GET ftp://a/x HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C5 absolute-form with userinfo", "GET http://u@a/x HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C5 absolute-form with empty authority", "GET http:///x HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C5 scheme without //", "GET http:/x HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C5 absolute-form still needs Host", "GET http://a/x HTTP/1.1\r\n\r\n", 400),
        bad("C6 asterisk with GET", "GET * HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C6 asterisk with POST", "POST * HTTP/1.1\r\n\(H)\r\n", 400),
        ok("C7 OPTIONS *", "OPTIONS * HTTP/1.1\r\n\(H)\r\n", method: "OPTIONS", target: "*", path: "*"),
        bad("C7 OPTIONS *x", "OPTIONS *x HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C8 CONNECT authority-form", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
        bad("C8 authority-form with GET", "GET a:443 HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C8 relative target", "GET a/b HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C9 fragment in path", "GET /a#b HTTP/1.1\r\n\(H)\r\n", 400),
        bad("C9 fragment after query", "GET /a?x#y HTTP/1.1\r\n\(H)\r\n", 400),

        // D. Body framing and request smuggling
        ok("D1 POST without CL or TE", "POST /x HTTP/1.1\r\n\(H)\r\n", method: "POST", path: "/x", framing: .none),
        ok("D2 CL, body not consumed", "POST / HTTP/1.1\r\n\(H)Content-Length: 5\r\n\r\nhello", method: "POST",
           framing: .contentLength(5), consumed: 47),
        bad("D3 CL +5", "POST / HTTP/1.1\r\n\(H)Content-Length: +5\r\n\r\n", 400),
        bad("D3 CL -1", "POST / HTTP/1.1\r\n\(H)Content-Length: -1\r\n\r\n", 400),
        bad("D3 CL 0x5", "POST / HTTP/1.1\r\n\(H)Content-Length: 0x5\r\n\r\n", 400),
        bad("D3 CL 1 0", "POST / HTTP/1.1\r\n\(H)Content-Length: 1 0\r\n\r\n", 400),
        bad("D3 CL 5.0", "POST / HTTP/1.1\r\n\(H)Content-Length: 5.0\r\n\r\n", 400),
        bad("D3 CL 1_0", "POST / HTTP/1.1\r\n\(H)Content-Length: 1_0\r\n\r\n", 400),
        bad("D3 CL empty", "POST / HTTP/1.1\r\n\(H)Content-Length: \r\n\r\n", 400),
        bad("D3 CL non-ASCII digit", "POST / HTTP/1.1\r\n\(H)Content-Length: \u{0665}\r\n\r\n", 400),
        bad("D3 CL with tab inside", "POST / HTTP/1.1\r\n\(H)Content-Length: 1\t0\r\n\r\n", 400),
        bad("D4 CL overflow", "POST / HTTP/1.1\r\n\(H)Content-Length: 99999999999999999999999\r\n\r\n", 400),
        bad("D4 CL 19 digits", "POST / HTTP/1.1\r\n\(H)Content-Length: 1000000000000000000\r\n\r\n", 400),
        ok("D4 CL 18 digits", "POST / HTTP/1.1\r\n\(H)Content-Length: 999999999999999999\r\n\r\n", method: "POST",
           framing: .contentLength(999_999_999_999_999_999)),
        ok("D5 CL leading zeros", "POST / HTTP/1.1\r\n\(H)Content-Length: 005\r\n\r\n", method: "POST", framing: .contentLength(5)),
        ok("D5 CL zero", "POST / HTTP/1.1\r\n\(H)Content-Length: 0\r\n\r\n", method: "POST", framing: .contentLength(0)),
        bad("D6 two different CL", "POST / HTTP/1.1\r\n\(H)Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        bad("D7 two equal CL", "POST / HTTP/1.1\r\n\(H)Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
        bad("D7 CL list 5, 5", "POST / HTTP/1.1\r\n\(H)Content-Length: 5, 5\r\n\r\n", 400),
        bad("D7 CL list 5,5", "POST / HTTP/1.1\r\n\(H)Content-Length: 5,5\r\n\r\n", 400),
        bad("D8 CL then TE", "POST / HTTP/1.1\r\n\(H)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        bad("D8 TE then CL", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        ok("D9 chunked", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\r\n\r\n", method: "POST", framing: .chunked),
        ok("D9 chunked case-insensitive, OWS", "POST / HTTP/1.1\r\n\(H)transfer-encoding:  ChUnKeD \r\n\r\n", method: "POST", framing: .chunked),
        bad("D9 chunked not final", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        bad("D9 chunked twice", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
        bad("D9 chunked on two lines", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        bad("D9 chunked then gzip on two lines", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        bad("D10 gzip", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: gzip\r\n\r\n", 501),
        bad("D10 identity", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: identity\r\n\r\n", 501),
        bad("D10 xchunked", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: xchunked\r\n\r\n", 501),
        bad("D10 chunked with parameter", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked;x=y\r\n\r\n", 501),
        bad("D10 gzip, chunked", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        bad("D10 gzip then chunked on two lines", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        bad("D11 TE chunked + VT", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\u{0B}\r\n\r\n", 400),
        bad("D11 TE chunked + FF", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\u{0C}\r\n\r\n", 400),
        bad("D11 TE chunked + NUL", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked\0\r\n\r\n", 400),
        bad("D11 TE leading comma", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: , chunked\r\n\r\n", 400),
        bad("D11 TE trailing comma", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chunked,\r\n\r\n", 400),
        bad("D11 TE empty", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: \r\n\r\n", 501),
        bad("D11 TE with space inside coding", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: chun ked\r\n\r\n", 501),
        bad("D11 TE quoted", "POST / HTTP/1.1\r\n\(H)Transfer-Encoding: \"chunked\"\r\n\r\n", 501),
        bad("D12 TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ok("D12 CL in HTTP/1.0", "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n", method: "POST", version: .http10, framing: .contentLength(2)),
        ok("D13 CL above body limit is reported, not judged",
           "POST / HTTP/1.1\r\n\(H)Content-Length: 99999999\r\n\r\n", method: "POST", framing: .contentLength(99_999_999)),

        // F. Connections
        ok("F1 HTTP/1.1 persistent by default", "GET / HTTP/1.1\r\n\(H)\r\n", keepAlive: true),
        ok("F2 Connection: close", "GET / HTTP/1.1\r\n\(H)Connection: close\r\n\r\n", keepAlive: false),
        ok("F2 Connection: CLOSE", "GET / HTTP/1.1\r\n\(H)Connection: CLOSE\r\n\r\n", keepAlive: false),
        ok("F2 close inside a list", "GET / HTTP/1.1\r\n\(H)Connection: keep-alive, close\r\n\r\n", keepAlive: false),
        ok("F2 close without spaces in a list", "GET / HTTP/1.1\r\n\(H)Connection: Upgrade,Close\r\n\r\n", keepAlive: false),
        ok("F2 close on a second Connection line", "GET / HTTP/1.1\r\n\(H)Connection: keep-alive\r\nConnection: close\r\n\r\n", keepAlive: false),
        ok("F2 closed is not close", "GET / HTTP/1.1\r\n\(H)Connection: closed\r\n\r\n", keepAlive: true),
        ok("F2 Connection: upgrade keeps alive", "GET / HTTP/1.1\r\n\(H)Connection: upgrade\r\n\r\n", keepAlive: true),
        ok("F3 HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", version: .http10, keepAlive: false),
        ok("F4 HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", version: .http10, keepAlive: true),
        ok("F4 HTTP/1.0 Keep-Alive case-insensitive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", version: .http10, keepAlive: true),
        ok("F4 HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", version: .http10, keepAlive: false),

        // G. Method and response semantics
        bad("G5 TRACE", "TRACE / HTTP/1.1\r\n\(H)\r\n", 501),
        bad("G5 CONNECT", "CONNECT / HTTP/1.1\r\n\(H)\r\n", 501),
        ok("G9 Expect: 100-continue", "POST / HTTP/1.1\r\n\(H)Expect: 100-continue\r\nContent-Length: 3\r\n\r\n", method: "POST",
           framing: .contentLength(3), expectContinue: true),
        ok("G9 Expect case-insensitive", "POST / HTTP/1.1\r\n\(H)expect: 100-Continue\r\nContent-Length: 3\r\n\r\n", method: "POST",
           framing: .contentLength(3), expectContinue: true),
        bad("G11 other expectation", "POST / HTTP/1.1\r\n\(H)Expect: foo\r\n\r\n", 417),
        bad("G11 100-continue plus another", "POST / HTTP/1.1\r\n\(H)Expect: 100-continue, foo\r\n\r\n", 417),
        bad("G11 empty Expect", "POST / HTTP/1.1\r\n\(H)Expect: \r\n\r\n", 417),
        bad("G11 200-ok", "POST / HTTP/1.1\r\n\(H)Expect: 200-ok\r\n\r\n", 417),
        ok("G12 Expect ignored in HTTP/1.0", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", method: "POST",
           version: .http10, framing: .contentLength(3), expectContinue: false),

        // Incomplete input
        pending("incomplete request line", "GET / HTTP/1.1"),
        pending("incomplete after request line CR", "GET / HTTP/1.1\r"),
        pending("incomplete header", "GET / HTTP/1.1\r\nHost: a"),
        pending("incomplete without final empty line", "GET / HTTP/1.1\r\nHost: a\r\n"),
        pending("incomplete final CR", "GET / HTTP/1.1\r\nHost: a\r\n\r"),
        pending("incomplete leading CRLF", "\r\n\r"),
        pending("request line at the limit, CR not yet seen", "GET /012345678901234567 HTTP/1.1", limits: small),
    ]
}

// MARK: - Tests

final class ParserTests: XCTestCase {
    func testHeadRowsInOnePiece() {
        XCTAssertGreaterThanOrEqual(HeadRows.all.count, 120)
        for row in HeadRows.all { hpCheck(row, hpParseWhole(row.raw, limits: row.limits), mode: "whole") }
    }

    func testHeadRowsByteByByte() {
        for row in HeadRows.all { hpCheck(row, hpParseIncrementally(row.raw, step: 1, limits: row.limits), mode: "byte-by-byte") }
    }

    func testHeadRowsInPieces() {
        for step in [2, 3, 7, 16] {
            for row in HeadRows.all {
                hpCheck(row, hpParseIncrementally(row.raw, step: step, limits: row.limits), mode: "steps of \(step)")
            }
        }
    }

    /// Every row, valid or not, gives exactly the same outcome (error case included) however it is split.
    func testIncrementalOutcomeIdenticalToWhole() {
        for row in HeadRows.all {
            let whole = HPOutcome(hpParseWhole(row.raw, limits: row.limits))
            let bytewise = HPOutcome(hpParseIncrementally(row.raw, step: 1, limits: row.limits))
            XCTAssertEqual(whole, bytewise, "[\(row.id)]", line: row.line)
        }
    }

    // MARK: H. Limits with the default values

    private func status(_ raw: [UInt8], limits: HTTPLimits = HTTPLimits()) -> Int? {
        if case .failure(let e) = hpParseWhole(raw, limits: limits) { return e.status }
        return nil
    }

    private func completes(_ raw: [UInt8], limits: HTTPLimits = HTTPLimits()) -> RequestHead? {
        if case .complete(let h, let c) = hpParseWhole(raw, limits: limits), c == raw.count { return h }
        return nil
    }

    func testDefaultLimitValues() {
        let l = HTTPLimits()
        XCTAssertEqual(l.maxRequestLineBytes, 8192)
        XCTAssertEqual(l.maxHeaderLineBytes, 8192)
        XCTAssertEqual(l.maxHeaderBytes, 32768)
        XCTAssertEqual(l.maxHeaderCount, 100)
    }

    func testRequestLineLimitDefault() {
        // A4: request-target longer than 8 KiB → 414.
        let longTarget = "/" + String(repeating: "a", count: 8 * 1024)
        XCTAssertEqual(status(hpBytes("GET \(longTarget) HTTP/1.1\r\nHost: a\r\n\r\n")), 414)
        // A5: a request line of 8000 octets is accepted.
        let t8000 = "/" + String(repeating: "b", count: 8000 - 13 - 1)
        XCTAssertEqual(("GET \(t8000) HTTP/1.1").utf8.count, 8000)
        XCTAssertEqual(completes(hpBytes("GET \(t8000) HTTP/1.1\r\nHost: a\r\n\r\n"))?.path, t8000)
        // Exactly 8192 accepted, 8193 refused.
        let t8192 = "/" + String(repeating: "c", count: 8192 - 13 - 1)
        XCTAssertEqual(completes(hpBytes("GET \(t8192) HTTP/1.1\r\nHost: a\r\n\r\n"))?.path, t8192)
        XCTAssertEqual(status(hpBytes("GET \(t8192)c HTTP/1.1\r\nHost: a\r\n\r\n")), 414)
        // The method being the long part → 400.
        XCTAssertEqual(status(hpBytes(String(repeating: "G", count: 9000) + " / HTTP/1.1\r\n\r\n")), 400)
    }

    func testHeaderLineLimitDefault() {
        let v8186 = String(repeating: "v", count: 8192 - 6)
        XCTAssertEqual(("X-A: " + v8186).utf8.count, 8191)
        XCTAssertEqual(completes(hpBytes("GET / HTTP/1.1\r\nHost: a\r\nX-A: \(v8186)v\r\n\r\n"))?.headers["x-a"]?.utf8.count, 8187)
        XCTAssertEqual(status(hpBytes("GET / HTTP/1.1\r\nHost: a\r\nX-A: \(v8186)vv\r\n\r\n")), 431)
    }

    func testHeaderSectionLimitDefault() {
        let line = "X: " + String(repeating: "s", count: 7000) + "\r\n"
        XCTAssertEqual(status(hpBytes("GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: line, count: 5) + "\r\n")), 431)
        XCTAssertNotNil(completes(hpBytes("GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: line, count: 4) + "\r\n")))
    }

    func testHeaderCountLimitDefault() {
        let hundred = "Host: a\r\n" + (1..<100).map { "X-\($0): \($0)\r\n" }.joined()
        XCTAssertEqual(completes(hpBytes("GET / HTTP/1.1\r\n\(hundred)\r\n"))?.headers.count, 100)
        XCTAssertEqual(status(hpBytes("GET / HTTP/1.1\r\n\(hundred)X-100: 1\r\n\r\n")), 431)
    }

    // MARK: Early rejection (limits enforced while scanning, not after the line ends)

    func testOverlongRequestLineRejectedWithoutCRLF() {
        let raw = hpBytes("GET /") + [UInt8](repeating: 0x61, count: 8 * 1024)
        guard case .failure(.uriTooLong) = hpParseWhole(raw) else { return XCTFail("expected 414") }
        // Fed in 1000-byte steps, the failure arrives with the step that crosses 8192 bytes.
        var p = HeadParser(limits: HTTPLimits())
        var answeredAt = 0
        for k in stride(from: 1000, through: raw.count + 999, by: 1000) {
            let prefix = Array(raw[0..<min(k, raw.count)])
            if case .failure(let e) = prefix.withUnsafeBufferPointer({ p.parse($0) }) {
                XCTAssertEqual(e, .uriTooLong)
                answeredAt = min(k, raw.count)
                break
            }
        }
        XCTAssertEqual(answeredAt, raw.count)
        // Exactly 8192 bytes without CR: still waiting for the CR.
        guard case .needMore = hpParseWhole(Array(raw[0..<8192])) else { return XCTFail("8192 bytes are allowed") }
    }

    func testOverlongHeaderLineRejectedWithoutCRLF() {
        let raw = hpBytes("GET / HTTP/1.1\r\nHost: a\r\nX: ") + [UInt8](repeating: 0x61, count: 8190)
        guard case .failure(.headerFieldsTooLarge) = hpParseWhole(raw) else { return XCTFail("expected 431") }
        let name = hpBytes("GET / HTTP/1.1\r\nHost: a\r\n") + [UInt8](repeating: 0x61, count: 8193)
        guard case .failure(.headerFieldsTooLarge) = hpParseWhole(name) else { return XCTFail("expected 431 for a long name") }
    }

    func testTooManyFieldsRejectedWhenTheNextLineStarts() {
        let raw = hpBytes("GET / HTTP/1.1\r\nHost: a\r\n" + (1..<100).map { "X-\($0): 1\r\n" }.joined() + "X")
        guard case .failure(.headerFieldsTooLarge) = hpParseWhole(raw) else { return XCTFail("expected 431") }
    }

    func testJunkRejectedAtTheFirstByte() {
        for first: UInt8 in [0x16, 0x00, 0x80, 0xFF, 0x20, 0x7B, 0x09] {
            guard case .failure(let e) = hpParseWhole([first]) else { return XCTFail("byte \(first) accepted") }
            XCTAssertEqual(e.status, 400, "byte \(first)")
        }
        guard case .needMore = hpParseWhole([0x47]) else { return XCTFail("G must wait") }
    }

    // MARK: Pipelining, reuse, stickiness

    func testPipelinedRequestsConsumeExactlyOneHead() {
        let first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
        let second = "POST /two?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        let raw = hpBytes(first + second)
        var p = HeadParser(limits: HTTPLimits())
        guard case .complete(let h1, let c1) = raw.withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
        XCTAssertEqual(c1, first.utf8.count)
        XCTAssertEqual(h1.path, "/one")
        XCTAssertTrue(h1.keepAlive)
        // The parser is ready for the next head; the caller passes the rest of its buffer.
        let rest = Array(raw[c1...])
        guard case .complete(let h2, let c2) = rest.withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
        XCTAssertEqual(c2, second.utf8.count - 3)
        XCTAssertEqual(h2.method, "POST")
        XCTAssertEqual(h2.path, "/two")
        XCTAssertEqual(h2.query, "x=1")
        XCTAssertEqual(h2.framing, .contentLength(3))
        XCTAssertFalse(h2.keepAlive)
        XCTAssertEqual(Array(rest[c2...]), hpBytes("abc"))
    }

    func testPipelinedByteByByteCompletesAtTheFinalLF() {
        let first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
        let raw = hpBytes(first + "GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        var p = HeadParser(limits: HTTPLimits())
        for k in 1...raw.count {
            let r = Array(raw[0..<k]).withUnsafeBufferPointer { p.parse($0) }
            if case .complete(let h, let consumed) = r {
                XCTAssertEqual(k, first.utf8.count)
                XCTAssertEqual(consumed, first.utf8.count)
                XCTAssertEqual(h.path, "/a")
                return
            }
            guard case .needMore = r else { return XCTFail("unexpected \(r)") }
        }
        XCTFail("never completed")
    }

    func testPipelinedBatchOfManyRequests() {
        let one = "GET /p HTTP/1.1\r\nHost: a\r\n\r\n"
        let raw = hpBytes(String(repeating: one, count: 50))
        var p = HeadParser(limits: HTTPLimits())
        var offset = 0, count = 0
        raw.withUnsafeBufferPointer { buf in
            while offset < buf.count {
                guard case .complete(_, let c) = p.parse(UnsafeBufferPointer(rebasing: buf[offset...])) else { return XCTFail() }
                offset += c
                count += 1
            }
        }
        XCTAssertEqual(count, 50)
        XCTAssertEqual(offset, raw.count)
    }

    func testResetForgetsPartialProgress() {
        var p = HeadParser(limits: HTTPLimits())
        guard case .needMore = hpBytes("POST /old HTTP/1.1\r\nHost: b\r\nX-Half").withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
        p.reset()
        guard case .complete(let h, let c) = hpBytes("GET /new HTTP/1.1\r\nHost: a\r\n\r\n").withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
        XCTAssertEqual(h.method, "GET")
        XCTAssertEqual(h.path, "/new")
        XCTAssertEqual(h.headers.fields.map(\.value), ["a"])
        XCTAssertEqual(c, 30)
    }

    func testFailureIsStickyUntilReset() {
        var p = HeadParser(limits: HTTPLimits())
        let badRaw = hpBytes("GET / HTTP/1.1\r\nHost : a\r\n\r\n")
        guard case .failure(let e1) = badRaw.withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
        guard case .failure(let e2) = (badRaw + hpBytes("more")).withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
        XCTAssertEqual(e1, e2)
        XCTAssertEqual(e1.status, 400)
        p.reset()
        guard case .complete = hpBytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n").withUnsafeBufferPointer({ p.parse($0) }) else { return XCTFail() }
    }

    func testEmptyInputNeedsMore() {
        guard case .needMore = hpParseWhole([]) else { return XCTFail() }
    }

    func testErrorStatusesAndCodes() {
        XCTAssertEqual(HTTPParseError.expectationFailed.status, 417)
        XCTAssertEqual(HTTPParseError.expectationFailed.code, "expectation_failed")
        XCTAssertEqual(HTTPParseError.uriTooLong.status, 414)
        XCTAssertEqual(HTTPParseError.headerFieldsTooLarge.status, 431)
        XCTAssertEqual(HTTPParseError.versionNotSupported.status, 505)
        XCTAssertEqual(HTTPParseError.notImplemented("x").status, 501)
    }

    /// Error details are fixed texts: the request's bytes are never echoed (G19).
    func testErrorDetailsNeverEchoInput() {
        let marker = "ZQXJ"
        for raw in ["GET /\(marker)# HTTP/1.1\r\nHost: a\r\n\r\n", "\(marker) / HTTP/1.1\r\nHost: a\r\n\r\n",
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \(marker)\r\n\r\n",
                    "GET / HTTP/1.1\r\nHost: \(marker)@a\r\n\r\n"] {
            guard case .failure(let e) = hpParseWhole(hpBytes(raw)) else { return XCTFail(raw) }
            XCTAssertFalse(e.detail.contains(marker), raw)
        }
    }

    // MARK: Performance

    func testSimpleGetParseSpeed() {
        let raw = hpBytes("GET /v1/items?id=42 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
        var p = HeadParser(limits: HTTPLimits())
        let n = Int(ProcessInfo.processInfo.environment["PARSER_BENCH_N"] ?? "") ?? 50_000
        var total = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            raw.withUnsafeBufferPointer { buf in
                for _ in 0..<n {
                    if case .complete(let h, let c) = p.parse(buf) { total &+= c &+ h.path.utf8.count }
                }
            }
        }
        XCTAssertEqual(total, n * (raw.count + 9))
        let ns = Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9
        print("HeadParser: \(Int(ns / Double(n))) ns per simple GET head (\(raw.count) bytes)")
        XCTAssertLessThan(ns / Double(n), 50_000, "far too slow even for a debug build")
    }
}
