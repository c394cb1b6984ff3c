// Black-box cases, checklist §(a) G (methods and response semantics) and the server middleware:
// gzip, X-Request-Id, Date, CORS.
import XCTest
import Foundation
import HTTP

final class BlackBoxTestsMethods: BlackBoxCase {
    // G1 / G2
    func testG02_headHasContentLengthOfGetButNoBody() throws {
        let c = try connect()
        c.send("GET /items/abc HTTP/1.1\r\nHost: t\r\n\r\n")
        let get = try c.readResponse()
        c.send("HEAD /items/abc HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try c.readResponse(head: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), String(get.body.count))
        XCTAssertEqual(head.header("content-type"), get.header("content-type"))
        XCTAssertFalse(c.waitReadable(0.2), "HEAD response carried body bytes")
        assertUsable(c, after: head)
        assertHealthy()
    }

    func testG02_headOnLoopRoute() {
        let r = expect("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n", status: 200, then: .usable, head: true)
        XCTAssertEqual(r?.header("content-length"), "15")
    }

    func testG02_headOn404HasNoBody() {
        expect("HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n", status: 404, then: .usable, head: true)
    }

    // G3
    func testG03_wrongMethodIs405WithAllow() {
        let r = expect("POST /items/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", status: 405, then: .usable)
        let allow = Set((r?.header("allow") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        XCTAssertEqual(allow, ["DELETE", "GET", "HEAD", "OPTIONS"])
        XCTAssertEqual(r?.header("content-type"), "application/problem+json")
    }

    func testG03_getOnPostOnlyRouteIs405() {
        let r = expect("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", status: 405, then: .usable)
        XCTAssertTrue(r?.header("allow")?.contains("POST") ?? false)
    }

    func testG03_405WithABodyReadsTheBodyAndKeepsTheConnection() {
        expect("PUT /items/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", status: 405, then: .usable)
    }

    func testG_unknownPathIs404ProblemJSON() {
        let r = expect("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", status: 404, then: .usable)
        XCTAssertEqual(r?.header("content-type"), "application/problem+json")
        XCTAssertTrue(r?.text.contains("\"status\":404") ?? false)
    }

    // G4
    func testG04_optionsOnRouteIs204WithAllow() {
        let r = expect("OPTIONS /items/1 HTTP/1.1\r\nHost: t\r\n\r\n", status: 204, then: .usable)
        let allow = Set((r?.header("allow") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        XCTAssertEqual(allow, ["DELETE", "GET", "HEAD", "OPTIONS"])
        XCTAssertNil(r?.header("content-length"))
    }

    func testG_deleteReturns204WithoutContentLength() {
        let r = expect("DELETE /items/1 HTTP/1.1\r\nHost: t\r\n\r\n", status: 204, then: .usable)
        XCTAssertNil(r?.header("content-length"))
        XCTAssertNil(r?.header("transfer-encoding"))
    }

    func testG_percentEncodedPathParameterIsDecoded() {
        let r = expect("GET /items/a%20b HTTP/1.1\r\nHost: t\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.text, #"{"id":"a b"}"#)
    }

    // G6
    func testG06_dateIsIMFFixdateOnSuccessAndErrors() {
        let pattern = #"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"#
        for (raw, status, after) in [("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200, BBAfter.usable),
                                     ("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n", 200, .usable),
                                     ("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, .usable),
                                     ("GET / HTTP/1.1\r\n\r\n", 400, .closed)] {
            let r = expect(raw, status: status, then: after)
            let date = r?.header("date") ?? ""
            XCTAssertNotNil(date.range(of: pattern, options: .regularExpression), "date \(date.debugDescription) for \(status)")
        }
    }
}

final class BlackBoxTestsMiddleware: BlackBoxCase {
    // gzip
    func testGzip_bigResponseIsCompressedWhenAccepted() throws {
        let r = expect("GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.header("content-encoding"), "gzip")
        XCTAssertEqual(r?.header("content-length"), r.map { String($0.body.count) })
        let plain = try XCTUnwrap(Gzip.decompress(r?.body ?? []), "body is not valid gzip")
        XCTAssertEqual(String(decoding: plain, as: UTF8.self), BlackBoxServer.bigJSON)
        XCTAssertLessThan(r?.body.count ?? .max, BlackBoxServer.bigJSON.utf8.count / 2)
        XCTAssertEqual(r?.values("vary").filter { $0.lowercased().contains("accept-encoding") }.count, 1)
    }

    func testGzip_notCompressedWithoutAcceptEncoding() {
        let r = expect("GET /big HTTP/1.1\r\nHost: t\r\n\r\n", status: 200, then: .usable)
        XCTAssertNil(r?.header("content-encoding"))
        XCTAssertEqual(r?.text, BlackBoxServer.bigJSON)
        XCTAssertEqual(r?.values("vary").filter { $0.lowercased().contains("accept-encoding") }.count, 1,
                       "exactly one Vary: Accept-Encoding; got \(r?.values("vary") ?? [])")
    }

    func testGzip_notCompressedWhenQIsZero() {
        let r = expect("GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0\r\n\r\n", status: 200, then: .usable)
        XCTAssertNil(r?.header("content-encoding"))
        XCTAssertEqual(r?.body.count, BlackBoxServer.bigJSON.utf8.count)
    }

    func testGzip_smallResponseIsNotCompressed() {
        let r = expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n", status: 200, then: .usable)
        XCTAssertNil(r?.header("content-encoding"))
        XCTAssertEqual(r?.text, #"{"id":"1"}"#)
    }

    func testGzip_headOfCompressedResponseHasItsLengthButNoBody() throws {
        let c = try connect()
        c.send("GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
        let get = try c.readResponse()
        c.send("HEAD /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
        let head = try c.readResponse(head: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-encoding"), "gzip")
        XCTAssertEqual(head.header("content-length"), String(get.body.count))
        assertUsable(c, after: head)
        assertHealthy()
    }

    // X-Request-Id
    func testRequestID_validIdIsEchoed() {
        let r = expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123_x.y\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.header("x-request-id"), "abc-123_x.y")
    }

    func testRequestID_validIdIsEchoedOnLoopRoute() {
        let r = expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: loop-1\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.header("x-request-id"), "loop-1")
    }

    func testRequestID_invalidIdIsReplaced() {
        let r = expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: bad id <script>\r\n\r\n", status: 200, then: .usable)
        let id = r?.header("x-request-id") ?? ""
        XCTAssertFalse(id.isEmpty)
        XCTAssertNotEqual(id, "bad id <script>")
        XCTAssertFalse(id.contains(" "))
    }

    func testRequestID_tooLongIdIsReplaced() {
        let long = String(repeating: "a", count: 200)
        let r = expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: \(long)\r\n\r\n", status: 200, then: .usable)
        XCTAssertNotEqual(r?.header("x-request-id"), long)
        XCTAssertFalse(r?.header("x-request-id")?.isEmpty ?? true)
    }

    func testRequestID_generatedIdsAreUnique() throws {
        let c = try connect()
        var ids = Set<String>()
        for _ in 0..<5 {
            c.send(Self.healthz)
            let r = try c.readResponse()
            ids.insert(r.header("x-request-id") ?? "")
        }
        XCTAssertEqual(ids.count, 5)
        XCTAssertFalse(ids.contains(""))
        assertHealthy()
    }

    // CORS (the shared server allows https://app.example)
    func testCORS_allowedOriginIsEchoedOnce() {
        let r = expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.header("access-control-allow-origin"), "https://app.example")
        XCTAssertEqual(r?.values("vary").filter { $0.contains("Origin") }.count, 1, "vary: \(r?.values("vary") ?? [])")
    }

    func testCORS_otherOriginGetsNoCORSHeaders() {
        let r = expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n", status: 200, then: .usable)
        XCTAssertNil(r?.header("access-control-allow-origin"))
    }

    func testCORS_preflightIs204WithAllowMethods() {
        let r = expect("OPTIONS /items/1 HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: DELETE\r\n\r\n",
                       status: 204, then: .usable)
        XCTAssertEqual(r?.header("access-control-allow-origin"), "https://app.example")
        XCTAssertTrue(r?.header("access-control-allow-methods")?.contains("DELETE") ?? false)
    }
}
