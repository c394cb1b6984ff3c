// Table-driven tests of ChunkedDecoder: reference/http-server.md §(a) rows E1–E12 (and D16 framing).
import XCTest
import HTTP

// Helpers are private to this file so that they cannot clash with other test files of the module.

private func cdBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private enum CDExpectation: Equatable {
    /// Decoding ends after `consumed` bytes (default: all input) with this body.
    case body(String, consumed: Int?)
    case status(Int)
    /// The input ends before the body does; the body decoded so far.
    case incomplete(String)
}

private struct CDRow {
    let id: String
    let raw: [UInt8]
    let expected: CDExpectation
    var maxBody = 1 << 20
    var limits = HTTPLimits()
    let line: UInt
}

private enum CDOutcome: Equatable {
    case done(body: [UInt8], consumed: Int)
    case failure(HTTPParseError)
    case needMore(body: [UInt8], consumed: Int)
}

/// Feeds `raw` to a fresh decoder in pieces of the given sizes (cycled), each call getting the
/// bytes after what the previous calls consumed (a fresh copy, as a reallocating caller would).
private func cdDecode(_ raw: [UInt8], pieces: [Int], maxBody: Int, limits: HTTPLimits) -> CDOutcome {
    var d = ChunkedDecoder(limits: limits, maxBodyBytes: maxBody)
    var body: [UInt8] = []
    var start = 0, avail = 0, piece = 0
    while true {
        let more = min(pieces[piece % pieces.count], raw.count - avail)
        piece += 1
        avail += more
        let slice = Array(raw[start..<avail])
        let r = slice.withUnsafeBufferPointer { d.decode($0, into: &body) }
        switch r {
        case .failure(let e): return .failure(e)
        case .done(let c):
            XCTAssertLessThanOrEqual(c, slice.count)
            return .done(body: body, consumed: start + c)
        case .needMore(let c):
            XCTAssertEqual(c, slice.count, "the decoder keeps no bytes back")
            start += c
            if avail == raw.count && more == 0 { return .needMore(body: body, consumed: start) }
        }
    }
}

private func cdCheck(_ row: CDRow, _ out: CDOutcome, mode: String, file: StaticString = #filePath) {
    let w = "[\(row.id)] (\(mode))"
    switch (row.expected, out) {
    case (.body(let b, let consumed), .done(let body, let c)):
        XCTAssertEqual(body, cdBytes(b), "\(w) body", file: file, line: row.line)
        XCTAssertEqual(c, consumed ?? row.raw.count, "\(w) consumed", file: file, line: row.line)
    case (.status(let s), .failure(let e)):
        XCTAssertEqual(e.status, s, "\(w) status of \(e)", file: file, line: row.line)
    case (.incomplete(let b), .needMore(let body, let c)):
        XCTAssertEqual(body, cdBytes(b), "\(w) body so far", file: file, line: row.line)
        XCTAssertEqual(c, row.raw.count, "\(w) consumed", file: file, line: row.line)
    default:
        XCTFail("\(w) expected \(row.expected), got \(out)", file: file, line: row.line)
    }
}

private enum ChunkRows {
    static func ok(_ id: String, _ raw: String, _ body: String, consumed: Int? = nil, maxBody: Int = 1 << 20,
                   limits: HTTPLimits = HTTPLimits(), line: UInt = #line) -> CDRow {
        CDRow(id: id, raw: cdBytes(raw), expected: .body(body, consumed: consumed), maxBody: maxBody, limits: limits, line: line)
    }

    static func bad(_ id: String, _ raw: String, _ status: Int, maxBody: Int = 1 << 20,
                    limits: HTTPLimits = HTTPLimits(), line: UInt = #line) -> CDRow {
        CDRow(id: id, raw: cdBytes(raw), expected: .status(status), maxBody: maxBody, limits: limits, line: line)
    }

    static func badBytes(_ id: String, _ raw: [UInt8], _ status: Int, line: UInt = #line) -> CDRow {
        CDRow(id: id, raw: raw, expected: .status(status), line: line)
    }

    static func partial(_ id: String, _ raw: String, _ body: String, line: UInt = #line) -> CDRow {
        CDRow(id: id, raw: cdBytes(raw), expected: .incomplete(body), line: line)
    }

    static let ext8: HTTPLimits = { var l = HTTPLimits(); l.maxChunkExtensionBytes = 8; return l }()
    static let trailer16: HTTPLimits = { var l = HTTPLimits(); l.maxTrailerBytes = 16; return l }()

    static let all: [CDRow] = [
        // E1 valid bodies
        ok("E1 single chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E1 two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
        ok("E1 uppercase hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        ok("E1 lowercase hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        ok("E1 mixed-case multi-digit hex", "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz"),
        ok("E1 000 last-chunk", "5\r\nhello\r\n000\r\n\r\n", "hello"),
        ok("E1 leading zeros in size", "0005\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E1 fifteen-digit size", "000000000000005\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E1 empty body", "0\r\n\r\n", ""),
        ok("E1 CRLF bytes inside chunk data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"),
        ok("E1 chunk data containing size-like text", "7\r\n0\r\n\r\nab\r\n0\r\n\r\n", "0\r\n\r\nab"),
        ok("E1 many one-byte chunks", String(repeating: "1\r\nx\r\n", count: 40) + "0\r\n\r\n", String(repeating: "x", count: 40)),
        // E2 extensions ignored
        ok("E2 token extension", "5;a=b\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E2 quoted extension", "5;a=\"q r\"\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E2 quoted extension with escapes", "5;a=\"x\\\"y\\\\\"\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E2 extension without value", "5;a\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E2 several extensions", "5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E2 BWS around ; and =", "5 ; a = b \r\nhello\r\n0\r\n\r\n", "hello"),
        ok("E2 extension on the last chunk", "5\r\nhello\r\n0;end=1\r\n\r\n", "hello"),
        // E3 malformed sizes
        bad("E3 non-hex size", "zz\r\nhello\r\n0\r\n\r\n", 400),
        bad("E3 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 400),
        bad("E3 minus sign", "-5\r\nhello\r\n0\r\n\r\n", 400),
        bad("E3 plus sign", "+5\r\nhello\r\n0\r\n\r\n", 400),
        bad("E3 underscore", "1_0\r\n", 400),
        bad("E3 leading space", " 5\r\nhello\r\n0\r\n\r\n", 400),
        bad("E3 space between digits", "5 0\r\nhello\r\n", 400),
        bad("E3 empty size line", "\r\nhello\r\n", 400),
        bad("E3 g is not hex", "5g\r\nhello\r\n", 400),
        // E4 overflow
        bad("E4 sixteen hex digits", "1000000000000000\r\n", 400),
        bad("E4 far over Int64", "ffffffffffffffffffffffff\r\n", 400),
        bad("E4 sixteen digits with leading zeros", "0000000000000005\r\nhello\r\n0\r\n\r\n", 400),
        // E5 bare LF / CR
        bad("E5 bare LF after size", "5\nhello\r\n0\r\n\r\n", 400),
        bad("E5 bare LF after data", "5\r\nhello\n0\r\n\r\n", 400),
        bad("E5 bare CR after size", "5\rhello\r\n0\r\n\r\n", 400),
        bad("E5 bare CR after data", "5\r\nhello\r0\r\n\r\n", 400),
        bad("E5 bare LF after last chunk", "0\n\r\n", 400),
        bad("E5 bare LF as final line", "0\r\n\n", 400),
        bad("E5 bare CR as final line", "0\r\n\rx", 400),
        // E6 bad extensions
        bad("E6 empty extension name", "5;\r\nhello\r\n0\r\n\r\n", 400),
        bad("E6 extension starting with =", "5;=b\r\nhello\r\n", 400),
        bad("E6 CR inside extension", "5;a\rb\r\nhello\r\n", 400),
        bad("E6 LF inside extension", "5;a\nb\r\nhello\r\n", 400),
        bad("E6 CTL inside extension value", "5;a=\u{01}\r\nhello\r\n", 400),
        bad("E6 CTL inside quoted value", "5;a=\"\u{01}\"\r\nhello\r\n", 400),
        bad("E6 NUL inside extension name", "5;a\0\r\nhello\r\n", 400),
        bad("E6 unterminated quoted value", "5;a=\"b\r\nhello\r\n", 400),
        bad("E6 empty value after =", "5;a=\r\nhello\r\n", 400),
        bad("E6 two names without ;", "5;a b\r\nhello\r\n", 400),
        bad("E6 ;; empty extension", "5;a;;b\r\nhello\r\n", 400),
        // E7 trailing whitespace without extension
        bad("E7 trailing SP after size", "5 \r\nhello\r\n0\r\n\r\n", 400),
        bad("E7 trailing HTAB after size", "5\t\r\nhello\r\n0\r\n\r\n", 400),
        // E8 data length mismatch
        bad("E8 data longer than size", "5\r\nhelloX\r\n0\r\n\r\n", 400),
        bad("E8 data shorter than size", "5\r\nhell\r\n0\r\n\r\n", 400),
        bad("E8 missing CRLF after data", "5\r\nhello0\r\n\r\n", 400),
        // E9 extension limits
        ok("E9 extension exactly at the limit", "5;abcdefg\r\nhello\r\n0\r\n\r\n", "hello", limits: ext8),
        bad("E9 extension over the limit", "5;abcdefgh\r\nhello\r\n0\r\n\r\n", 400, limits: ext8),
        bad("E9 whitespace counts toward the limit", "5         ;a\r\nhello\r\n", 400, limits: ext8),
        bad("E9 default 4 KiB extension limit", "5;a=" + String(repeating: "b", count: 4094) + "\r\nhello\r\n", 400),
        ok("E9 extension of 4 KiB accepted", "5;a=" + String(repeating: "b", count: 4093) + "\r\nhello\r\n0\r\n\r\n", "hello"),
        bad("E9 tiny chunks with long extensions (overhead)",
            String(repeating: "1;" + String(repeating: "e", count: 1000) + "\r\nx\r\n", count: 40) + "0\r\n\r\n", 400),
        // E10 body limit
        ok("E10 body exactly at the limit", "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", "helloworld", maxBody: 10),
        bad("E10 second chunk crosses the limit", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 413, maxBody: 10),
        bad("E10 single chunk over the limit", "b\r\nhello world\r\n0\r\n\r\n", 413, maxBody: 10),
        bad("E10 huge declared size, no data", "fffffffffffffff\r\n", 413),
        bad("E10 huge declared size with extension", "7fffffff;a=b\r\n", 413),
        // E11 trailers: accepted and discarded
        ok("E11 one trailer", "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", "hello"),
        ok("E11 several trailers, empty value", "0\r\nA: 1\r\nB:\r\nC:  x y \r\n\r\n", ""),
        ok("E11 framing fields in trailers have no effect", "5\r\nhello\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n", "hello"),
        bad("E11 trailer obs-fold", "0\r\nX: 1\r\n 2\r\n\r\n", 400),
        bad("E11 trailer without colon", "0\r\nX\r\n\r\n", 400),
        bad("E11 trailer SP before colon", "0\r\nX : 1\r\n\r\n", 400),
        bad("E11 trailer empty name", "0\r\n: 1\r\n\r\n", 400),
        bad("E11 trailer NUL in value", "0\r\nX: a\0b\r\n\r\n", 400),
        bad("E11 trailer bare LF", "0\r\nX: 1\n\r\n", 400),
        bad("E11 trailer bare CR", "0\r\nX: 1\rY\r\n\r\n", 400),
        ok("E11 trailer section exactly at the limit", "0\r\nX: 012345678\r\n\r\n", "", limits: trailer16),
        bad("E11 trailer section over the limit", "0\r\nX: 0123456789\r\n\r\n", 431, limits: trailer16),
        // E12 incomplete bodies
        partial("E12 no last chunk", "5\r\nhello\r\n", "hello"),
        partial("E12 inside chunk data", "5\r\nhel", "hel"),
        partial("E12 inside size line", "5\r\nhello\r\n1", "hello"),
        partial("E12 inside trailers", "0\r\nX: 1\r\n", ""),
        partial("E12 before the final CRLF", "0\r\n", ""),
        // D16 framing: the body ends exactly at the end of the chunked encoding
        ok("D16 pipelined request after the body", "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "hello", consumed: 15),
        ok("D16 smuggled request inside chunk data stays data", "1e\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n0\r\n\r\n",
           "GET /admin HTTP/1.1\r\nHost: a\r\n"),
        ok("D16 pipelined bytes after trailers", "0\r\nX: 1\r\n\r\nPOST", "", consumed: 11),
    ]
}

final class ParserChunkedTests: XCTestCase {
    func testRowsInOnePiece() {
        XCTAssertGreaterThanOrEqual(ChunkRows.all.count, 80)
        for row in ChunkRows.all {
            cdCheck(row, cdDecode(row.raw, pieces: [row.raw.count], maxBody: row.maxBody, limits: row.limits), mode: "whole")
        }
    }

    func testRowsByteByByte() {
        for row in ChunkRows.all {
            cdCheck(row, cdDecode(row.raw, pieces: [1], maxBody: row.maxBody, limits: row.limits), mode: "byte-by-byte")
        }
    }

    func testRowsInUnevenPieces() {
        for pieces in [[2], [3], [5, 1, 7], [13, 2]] {
            for row in ChunkRows.all {
                cdCheck(row, cdDecode(row.raw, pieces: pieces, maxBody: row.maxBody, limits: row.limits), mode: "pieces \(pieces)")
            }
        }
    }

    func testByteByByteOutcomeIdenticalToWhole() {
        for row in ChunkRows.all {
            let whole = cdDecode(row.raw, pieces: [row.raw.count], maxBody: row.maxBody, limits: row.limits)
            let bytewise = cdDecode(row.raw, pieces: [1], maxBody: row.maxBody, limits: row.limits)
            XCTAssertEqual(whole, bytewise, "[\(row.id)]", line: row.line)
        }
    }

    func testLargeBodyAcrossManyReads() {
        var raw: [UInt8] = []
        var expected: [UInt8] = []
        for k in 1...64 {
            let chunk = [UInt8](repeating: UInt8(k), count: k * 97)
            raw += cdBytes(String(chunk.count, radix: 16) + "\r\n") + chunk + cdBytes("\r\n")
            expected += chunk
        }
        raw += cdBytes("0\r\n\r\n")
        for pieces in [[raw.count], [4096], [1000, 1], [1]] {
            XCTAssertEqual(cdDecode(raw, pieces: pieces, maxBody: 1 << 20, limits: HTTPLimits()),
                           .done(body: expected, consumed: raw.count), "pieces \(pieces)")
        }
        // The same body with a limit one byte too small: 413.
        XCTAssertEqual(cdDecode(raw, pieces: [4096], maxBody: expected.count - 1, limits: HTTPLimits()), .failure(.payloadTooLarge))
    }

    func testPayloadTooLargeBeforeDataArrives() {
        var d = ChunkedDecoder(limits: HTTPLimits(), maxBodyBytes: 100)
        var body: [UInt8] = []
        // The size line is not even finished: the declared size alone decides.
        let r = cdBytes("65;").withUnsafeBufferPointer { d.decode($0, into: &body) }
        XCTAssertEqual(r, .failure(.payloadTooLarge))
        XCTAssertEqual(body, [])
    }

    func testAfterDoneAndAfterFailure() {
        var d = ChunkedDecoder(limits: HTTPLimits(), maxBodyBytes: 100)
        var body: [UInt8] = []
        XCTAssertEqual(cdBytes("0\r\n\r\nGET").withUnsafeBufferPointer { d.decode($0, into: &body) }, .done(consumed: 5))
        XCTAssertEqual(cdBytes("GET").withUnsafeBufferPointer { d.decode($0, into: &body) }, .done(consumed: 0))
        var e = ChunkedDecoder(limits: HTTPLimits(), maxBodyBytes: 100)
        XCTAssertEqual(cdBytes("x").withUnsafeBufferPointer { e.decode($0, into: &body) }, .failure(.badRequest("Invalid chunk size.")))
        XCTAssertEqual(cdBytes("0\r\n\r\n").withUnsafeBufferPointer { e.decode($0, into: &body) }, .failure(.badRequest("Invalid chunk size.")))
    }

    func testBodyBytesCounter() {
        var d = ChunkedDecoder(limits: HTTPLimits(), maxBodyBytes: 100)
        var body: [UInt8] = [9]
        XCTAssertEqual(cdBytes("3\r\nabc\r\n2\r\nde").withUnsafeBufferPointer { d.decode($0, into: &body) }, .needMore(consumed: 13))
        XCTAssertEqual(d.bodyBytes, 5)
        XCTAssertEqual(body, [9] + cdBytes("abcde"), "appends to what the body already holds")
        XCTAssertEqual([UInt8]().withUnsafeBufferPointer { d.decode($0, into: &body) }, .needMore(consumed: 0))
    }
}
