// Black-box cases, checklist §(a) D (body framing and request smuggling).
import XCTest
import HTTP

final class BlackBoxTestsFraming: BlackBoxCase {
    private func post(_ headers: String, body: String = "") -> String {
        "POST /echo HTTP/1.1\r\nHost: t\r\n\(headers)\r\n\(body)"
    }

    // D1 / D2 / D5
    func testD01_postWithoutFramingHasEmptyBody() {
        let r = expect(post(""), status: 200, then: .usable)
        XCTAssertEqual(r?.header("x-body-length"), "0")
    }

    func testD02_validContentLength() {
        let r = expect(post("Content-Length: 11\r\n", body: "hello world"), status: 200, then: .usable)
        XCTAssertEqual(r?.text, "hello world")
    }

    func testD05_leadingZerosInContentLength() {
        let r = expect(post("Content-Length: 005\r\n", body: "hello"), status: 200, then: .usable)
        XCTAssertEqual(r?.text, "hello")
    }

    // D3 / D4
    func testD03_plusSignIs400() { expect(post("Content-Length: +5\r\n", body: "hello"), status: 400, then: .closed) }
    func testD03_negativeIs400() { expect(post("Content-Length: -1\r\n", body: "hello"), status: 400, then: .closed) }
    func testD03_hexIs400() { expect(post("Content-Length: 0x5\r\n", body: "hello"), status: 400, then: .closed) }
    func testD03_innerSpaceIs400() { expect(post("Content-Length: 1 0\r\n", body: "hello"), status: 400, then: .closed) }
    func testD03_decimalPointIs400() { expect(post("Content-Length: 5.0\r\n", body: "hello"), status: 400, then: .closed) }
    func testD03_emptyIs400() { expect(post("Content-Length:\r\n", body: "hello"), status: 400, then: .closed) }
    func testD03_commaListIs400() { expect(post("Content-Length: 5, 5\r\n", body: "hello"), status: 400, then: .closed) }
    func testD04_overflowIs400() {
        expect(post("Content-Length: 99999999999999999999999\r\n", body: "hello"), status: 400, then: .closed)
    }

    // D6 / D7
    func testD06_duplicateContentLengthDifferentValuesIs400() {
        expect(post("Content-Length: 5\r\nContent-Length: 6\r\n", body: "hello!"), status: 400, then: .closed)
    }

    func testD07_duplicateContentLengthSameValueIs400() {
        expect(post("Content-Length: 5\r\nContent-Length: 5\r\n", body: "hello"), status: 400, then: .closed)
    }

    // D8 / D16: CL.TE and TE.CL — exactly one response, the smuggled request is never answered.
    func testD08_contentLengthAndChunkedIs400AndSmuggledRequestIgnored() {
        let smuggled = "GET /items/smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        let body = "0\r\n\r\n" + smuggled
        expect(post("Content-Length: \(body.utf8.count)\r\nTransfer-Encoding: chunked\r\n", body: body), status: 400, then: .closed)
    }

    func testD08_chunkedThenContentLengthIs400() {
        expect(post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", body: "5\r\nhello\r\n0\r\n\r\n"), status: 400, then: .closed)
    }

    // D9 / D10 / D11 / D12
    func testD09_chunkedNotFinalIs400() {
        expect(post("Transfer-Encoding: chunked, gzip\r\n", body: "0\r\n\r\n"), status: 400, then: .closed)
    }

    func testD09_chunkedTwiceIs400() {
        expect(post("Transfer-Encoding: chunked, chunked\r\n", body: "0\r\n\r\n"), status: 400, then: .closed)
    }

    func testD10_unknownCodingGzipIs501() {
        expect(post("Transfer-Encoding: gzip\r\n", body: "0\r\n\r\n"), status: 501, then: .closed)
    }

    func testD10_identityIs501() {
        expect(post("Transfer-Encoding: identity\r\n", body: "0\r\n\r\n"), status: 501, then: .closed)
    }

    func testD10_xchunkedIs501() {
        expect(post("Transfer-Encoding: xchunked\r\n", body: "0\r\n\r\n"), status: 501, then: .closed)
    }

    func testD10_chunkedWithParameterIsNotChunked() throws {
        let c = try connect()
        c.send(post("Transfer-Encoding: chunked;x=y\r\n", body: "0\r\n\r\n"))
        let r = try c.readResponse()
        XCTAssertTrue([400, 501].contains(r.status), "got \(r.status)")
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testD10_unknownCodingIsNotEchoedInTheErrorBody() {
        let r = expect(post("Transfer-Encoding: evil-coding\r\n", body: "0\r\n\r\n"), status: 501, then: .closed)
        XCTAssertFalse(r?.text.contains("evil") ?? true, r?.text ?? "")
    }

    func testD11_twoTransferEncodingLinesAreRejected() throws {
        let c = try connect()
        c.send(post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", body: "0\r\n\r\n"))
        let r = try c.readResponse()
        XCTAssertTrue([400, 501].contains(r.status), "got \(r.status)")
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testD11_leadingCommaIs400() {
        expect(post("Transfer-Encoding: , chunked\r\n", body: "0\r\n\r\n"), status: 400, then: .closed)
    }

    func testD11_emptyTransferEncodingIsRejected() throws {
        let c = try connect()
        c.send(post("Transfer-Encoding:\r\n", body: "0\r\n\r\n"))
        let r = try c.readResponse()
        XCTAssertTrue([400, 501].contains(r.status), "got \(r.status)")
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testD11_verticalTabAfterChunkedIs400() {
        expect(post("Transfer-Encoding: chunked\u{0B}\r\n", body: "0\r\n\r\n"), status: 400, then: .closed)
    }

    func testD11_obsFoldInsideTransferEncodingIs400() {
        expect(post("Transfer-Encoding: gzip,\r\n chunked\r\n", body: "0\r\n\r\n"), status: 400, then: .closed)
    }

    func testD11_whitespaceBeforeColonOfTransferEncodingIs400() {
        expect(post("Transfer-Encoding : chunked\r\n", body: "0\r\n\r\n"), status: 400, then: .closed)
    }

    func testD12_transferEncodingInHTTP10Is400() {
        expect("POST /echo HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 400, then: .closed)
    }

    // D15: a body on GET is read and discarded; the pipelined request after it is answered.
    func testD15_getWithBodyThenPipelinedRequest() throws {
        let c = try connect()
        let body = "GET /items/evil HTTP/1.1\r\n\r\n"
        c.send("GET /items/1 HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
               + "GET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try c.readResponse()
        let r2 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, #"{"id":"1"}"#)
        XCTAssertEqual(r2.status, 200)
        XCTAssertEqual(r2.text, #"{"id":"2"}"#)
        assertUsable(c, after: r2)
        assertHealthy()
    }

    // D16 CL.CL desync: only the declared bytes are body; the rest is the next request.
    func testD16_shortContentLengthLeavesTheRestAsNextRequest() throws {
        let c = try connect()
        c.send(post("Content-Length: 3\r\n", body: "abcGET /items/next HTTP/1.1\r\nHost: t\r\n\r\n"))
        let r1 = try c.readResponse()
        let r2 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, "abc")
        XCTAssertEqual(r2.status, 200)
        XCTAssertEqual(r2.text, #"{"id":"next"}"#)
        assertUsable(c, after: r2)
        assertHealthy()
    }
}
