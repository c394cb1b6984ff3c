// Black-box cases, checklist §(a) B (header fields) and C1–C4 (Host).
import XCTest
import HTTP

final class BlackBoxTestsHeaders: BlackBoxCase {
    // B1
    func testB01_whitespaceBeforeColonIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n", status: 400, then: .closed)
    }

    func testB01_tabBeforeColonIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A\t: 1\r\n\r\n", status: 400, then: .closed)
    }

    // B2 / A15
    func testB02_obsFoldIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n", status: 400, then: .closed)
    }

    func testA15_whitespacePrefixedFirstHeaderLineIs400() {
        expect("GET /healthz HTTP/1.1\r\n Host: t\r\n\r\n", status: 400, then: .closed)
    }

    // B3
    func testB03_nonTokenFieldNameIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX[1]: a\r\n\r\n", status: 400, then: .closed)
    }

    func testB03_emptyFieldNameIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\n: a\r\n\r\n", status: 400, then: .closed)
    }

    func testB03_lineWithoutColonIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", status: 400, then: .closed)
    }

    func testB03_nonASCIIFieldNameIs400() {
        expect(bbBytes("GET /healthz HTTP/1.1\r\nHost: t\r\nX-") + [0xC3, 0xA9] + bbBytes(": a\r\n\r\n"), status: 400, then: .closed)
    }

    // B4 / B5
    func testB04_nulInValueIs400() {
        expect(bbBytes("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a") + [0] + bbBytes("b\r\n\r\n"), status: 400, then: .closed)
    }

    func testB04_bareCRInValueIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", status: 400, then: .closed)
    }

    func testB04_bareLFInHeaderSectionIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", status: 400, then: .closed)
    }

    func testB05_controlCharacterInValueIs400() {
        expect(bbBytes("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a") + [0x01] + bbBytes("b\r\n\r\n"), status: 400, then: .closed)
    }

    func testB05_delInValueIs400() {
        expect(bbBytes("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a") + [0x7F] + bbBytes("b\r\n\r\n"), status: 400, then: .closed)
    }

    func testB05_obsTextAndTabInValueAreAccepted() {
        let r = expect(bbBytes("GET /headers HTTP/1.1\r\nHost: t\r\nX-A: a\tb") + [0xE9] + bbBytes("\r\n\r\n"), status: 200, then: .usable)
        XCTAssertNotNil(r?.text.range(of: "h:x-a: a\tb"), r?.text ?? "")
    }

    // B6 / B11 / B10
    func testB06_owsAroundValueIsTrimmed() {
        let r = expect("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \t 5 \t\r\n\r\nhello", status: 200, then: .usable)
        XCTAssertEqual(r?.text, "hello")
    }

    func testB11_headerNamesAreCaseInsensitive() {
        let r = expect("POST /echo HTTP/1.1\r\nhOsT: t\r\nconTENT-Length: 3\r\n\r\nabc", status: 200, then: .usable)
        XCTAssertEqual(r?.header("x-body-length"), "3")
    }

    func testB10_repeatedListFieldsAreKeptInOrder() {
        let r = expect("GET /headers HTTP/1.1\r\nHost: t\r\nAccept: a/b\r\nAccept: c/d\r\n\r\n", status: 200, then: .usable)
        let text = r?.text ?? ""
        let first = text.range(of: "h:accept: a/b"), second = text.range(of: "h:accept: c/d")
        XCTAssertNotNil(first, text)
        XCTAssertNotNil(second, text)
        if let first, let second { XCTAssertLessThan(first.lowerBound, second.lowerBound) }
    }

    func testB10_duplicateContentTypeIs400() {
        expect("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n", status: 400, then: .closed)
    }

    func testB10_duplicateAuthorizationIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", status: 400, then: .closed)
    }

    func testB_errorResponseIsProblemJSONWithoutEchoingInput() {
        let r = expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX<script>: 1\r\n\r\n", status: 400, then: .closed)
        XCTAssertEqual(r?.header("content-type"), "application/problem+json")
        XCTAssertTrue(r?.text.contains("\"status\":400") ?? false, r?.text ?? "")
        XCTAssertFalse(r?.text.contains("script") ?? true, r?.text ?? "")
        XCTAssertNotNil(r?.header("x-request-id"))
    }

    // C1 / C2 / C3 / C4
    func testC01_missingHostIn11Is400() {
        expect("GET /healthz HTTP/1.1\r\n\r\n", status: 400, then: .closed)
    }

    func testC02_twoHostLinesIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", status: 400, then: .closed)
    }

    func testC02_hostListIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: a, b\r\n\r\n", status: 400, then: .closed)
    }

    func testC03_hostWithUserinfoIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: u@a\r\n\r\n", status: 400, then: .closed)
    }

    func testC03_hostWithPathIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400, then: .closed)
    }

    func testC03_hostWithSpaceIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400, then: .closed)
    }

    func testC03_emptyHostIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", status: 400, then: .closed)
    }

    func testC03_hostWithBadPortIs400() {
        expect("GET /healthz HTTP/1.1\r\nHost: a:80x\r\n\r\n", status: 400, then: .closed)
    }

    func testC03_hostWithPortAndIPv6LiteralAreAccepted() {
        expect("GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", status: 200, then: .usable)
        expect("GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", status: 200, then: .usable)
    }

    func testC04_http10WithoutHostIsAccepted() {
        expect("GET /healthz HTTP/1.0\r\n\r\n", status: 200, then: .closed)
    }
}
