// Black-box cases, checklist §(a) A (message syntax, request line) and C (target forms).
import XCTest
import HTTP

final class BlackBoxTestsRequestLine: BlackBoxCase {
    // A1
    func testA01_validGetHasStatusLineDateAndContentLength() throws {
        let r = expect("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.statusLine, "HTTP/1.1 200 OK")
        XCTAssertEqual(r?.header("content-length"), "15")
        XCTAssertNotNil(r?.header("date"))
    }

    // A2
    func testA02_doubleSpaceAfterMethodIs400() {
        expect("GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA02_doubleSpaceBeforeVersionIs400() {
        expect("GET /healthz  HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA02_tabSeparatorIs400() {
        expect("GET\t/healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    // A3
    func testA03_spaceInsideTargetIs400() {
        expect("GET /heal thz HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA03_nulInsideTargetIs400() {
        expect(bbBytes("GET /heal") + [0] + bbBytes("thz HTTP/1.1\r\nHost: t\r\n\r\n"), status: 400, then: .closed)
    }

    func testA03_rawNonASCIIInsideTargetIs400() {
        expect(bbBytes("GET /caf") + [0xC3, 0xA9] + bbBytes(" HTTP/1.1\r\nHost: t\r\n\r\n"), status: 400, then: .closed)
    }

    // A4 / A5
    func testA04_requestTargetOver8KiBIs414() {
        let target = "/healthz?pad=" + String(repeating: "a", count: 9_000)
        expect("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n", status: 414, then: .closed)
    }

    func testA05_requestLineOf8000OctetsIsAccepted() {
        let target = "/healthz?pad=" + String(repeating: "a", count: 8_000 - 27)
        let line = "GET \(target) HTTP/1.1"
        XCTAssertEqual(line.utf8.count, 8_000 - 27 + 13 + 13)
        expect("\(line)\r\nHost: t\r\n\r\n", status: 200, then: .usable)
    }

    // A6
    /// The reference (§(a) A6) allows keeping the connection after a 501 for an unknown method; the
    /// parser stops at the request line instead, so the connection is closed: the safe choice,
    /// since nothing after an unrecognised request line is trusted.
    func testA06_unknownMethodIs501() {
        expect("FOO /healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 501, then: .closed)
    }

    func testA06_lowercaseMethodIs501() {
        expect("get /healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 501, then: .closed)
    }

    func testA06_traceIs501() {
        expect("TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", status: 501, then: .closed)
    }

    func testC08_connectAuthorityFormIs501() {
        expect("CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", status: 501, then: .closed)
    }

    // A7
    func testA07_methodOf5000BytesIsRejected() throws {
        let c = try connect()
        c.send(String(repeating: "M", count: 5_000) + " / HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertTrue([400, 501].contains(r.status), "got \(r.status)")
        assertClosed(c, after: r)
        assertHealthy()
    }

    // A8 / A9 / A10 / A11
    func testA08_http20Is505() {
        expect("GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", status: 505, then: .closed)
    }

    func testA08_http30Is505() {
        expect("GET /healthz HTTP/3.0\r\nHost: t\r\n\r\n", status: 505, then: .closed)
    }

    func testA08_h2PrefaceIs505() {
        expect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, then: .closed)
    }

    func testA09_http12IsTreatedAs11() {
        let r = expect("GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.statusLine, "HTTP/1.1 200 OK")
    }

    func testA10_lowercaseHTTPNameIs400() {
        expect("GET /healthz http/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA10_twoDigitMajorIs400() {
        expect("GET /healthz HTTP/01.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA10_versionWithoutMinorIs400() {
        expect("GET /healthz HTTP/1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA10_spaceInsideVersionIs400() {
        expect("GET /healthz HTTP/ 1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA11_http09StyleRequestIs400() {
        expect("GET /healthz\r\n\r\n", status: 400, then: .closed)
    }

    // A12 / A13 / A14 / A16
    func testA12_oneLeadingEmptyLineIsIgnored() {
        expect("\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 200, then: .usable)
    }

    func testA13_bareLFLineEndingsAre400() {
        expect("GET /healthz HTTP/1.1\nHost: t\n\n", status: 400, then: .closed)
    }

    func testA14_bareCRInRequestLineIs400() {
        expect("GET /healthz\rHTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testA16_tlsClientHelloIs400() {
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03] + [UInt8](repeating: 0x41, count: 64) + [13, 10, 13, 10]
        expect(hello, status: 400, then: .closed)
    }

    // C5 / C6 / C7 / C9
    func testC05_absoluteFormRoutesByPathAndUsesItsAuthority() {
        let r = expect("GET http://example.com/headers?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n", status: 200, then: .usable)
        XCTAssertTrue(r?.text.contains("path: /headers\n") ?? false, r?.text ?? "")
        XCTAssertTrue(r?.text.contains("authority: example.com\n") ?? false, r?.text ?? "")
        XCTAssertTrue(r?.text.contains("query: x=1\n") ?? false, r?.text ?? "")
    }

    func testC05_absoluteFormWithPathParameter() {
        let r = expect("GET http://example.com/items/abc HTTP/1.1\r\nHost: example.com\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.text, #"{"id":"abc"}"#)
    }

    func testC06_asteriskWithGetIs400() {
        expect("GET * HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testC07_optionsAsteriskIs204WithAllow() {
        let r = expect("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", status: 204, then: .usable)
        XCTAssertNotNil(r?.header("allow"))
        XCTAssertNil(r?.header("content-length"), "no Content-Length on 204")
    }

    func testC09_fragmentInTargetIs400() {
        expect("GET /healthz#frag HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testC_unsupportedSchemeInAbsoluteFormIs400() {
        expect("GET ftp://example.com/healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }
}
