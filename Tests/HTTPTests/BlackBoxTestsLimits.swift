// Black-box cases, checklist §(a) H: size limits (414/431/413) and header/body/idle timeouts (408,
// silent close). The shared server runs with header 800 ms, body 800 ms, idle 1000 ms.
import XCTest
import HTTP
#if canImport(Glibc)
import Glibc
#endif

final class BlackBoxTestsLimits: BlackBoxCase {
    // B7
    func testB07_headerLineOver8KiBIs431() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "v", count: 9_000))\r\n\r\n", status: 431, then: .closed)
    }

    func testB07_headerLineJustUnder8KiBIsAccepted() {
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "v", count: 8_000))\r\n\r\n", status: 200, then: .usable)
    }

    // B9
    func testB09_moreThan100FieldsIs431() {
        let fields = (0..<101).map { "X-F\($0): v\r\n" }.joined()
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\n\(fields)\r\n", status: 431, then: .closed)
    }

    func testB09_exactly100FieldsIsAccepted() {
        let fields = (0..<99).map { "X-F\($0): v\r\n" }.joined()
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\n\(fields)\r\n", status: 200, then: .usable)
    }

    // B8
    func testB08_headerSectionOver32KiBIs431() {
        let fields = (0..<5).map { "X-F\($0): \(String(repeating: "v", count: 7_000))\r\n" }.joined()
        expect("GET /healthz HTTP/1.1\r\nHost: t\r\n\(fields)\r\n", status: 431, then: .closed)
    }

    // D13: decided from the declared length, before any body byte is sent.
    func testD13_declaredBodyOver1MiBIs413BeforeTheBodyIsSent() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(1024 * 1024 + 1)\r\n\r\n")
        let r = try c.readResponse(timeout: 2)
        XCTAssertEqual(r.status, 413)
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testD13_bodyOfExactly1MiBIsAccepted() throws {
        let body = [UInt8](repeating: 0x61, count: 1024 * 1024)
        let c = try connect()
        c.send(bbBytes("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n") + body)
        let r = try c.readResponse(timeout: 10)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("x-body-length"), "1048576")
        XCTAssertEqual(r.body.count, body.count)
        assertUsable(c, after: r)
        assertHealthy()
    }

    func testD13_routeOverrideRejectsDeclaredBodyOver16Bytes() throws {
        let c = try connect()
        c.send("PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413)
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testD13_routeOverrideAcceptsBodyOf16Bytes() {
        let r = expect("PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n0123456789abcdef", status: 200, then: .usable)
        XCTAssertEqual(r?.text, "0123456789abcdef")
    }

    func testD13_routeOverrideDoesNotApplyToOtherRoutes() {
        let body = String(repeating: "z", count: 100)
        expect("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n\(body)", status: 200, then: .usable)
    }
}

final class BlackBoxTestsTimeouts: BlackBoxCase {
    private var headerTimeout: Double { Double(server.server.config.limits.headerTimeoutMs) / 1000 }
    private var bodyTimeout: Double { Double(server.server.config.limits.bodyTimeoutMs) / 1000 }
    private var idleTimeout: Double { Double(server.server.config.limits.idleTimeoutMs) / 1000 }

    private func assertAbout(_ elapsed: Double, _ expected: Double, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThanOrEqual(elapsed, expected - 0.15, "fired too early", file: file, line: line)
        XCTAssertLessThanOrEqual(elapsed, expected + 0.8, "fired too late", file: file, line: line)
    }

    // Slowloris: one byte every 200 ms never completes the head; the header timeout is absolute
    // from the first byte, so trickling must not extend it.
    func testH_slowHeaderTrickleGets408AtTheAbsoluteHeaderTimeout() throws {
        let c = try connect()
        let head = bbBytes("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + String(repeating: "s", count: 100))
        let start = bbNow()
        var sent = 0
        while sent < head.count {
            c.send([head[sent]])
            sent += 1
            if c.waitReadable(0.2) { break }
        }
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 408)
        assertAbout(bbNow() - start, headerTimeout)
        XCTAssertLessThan(sent, head.count, "the whole head was trickled without a timeout")
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testH_partialHeadThenSilenceGets408() throws {
        let c = try connect()
        let start = bbNow()
        c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n")
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 408)
        assertAbout(bbNow() - start, headerTimeout)
        assertClosed(c, after: r)
        assertHealthy()
    }

    // D14
    func testD14_bodyStallGets408() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        let start = bbNow()
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 408)
        assertAbout(bbNow() - start, bodyTimeout)
        assertClosed(c, after: r)
        assertHealthy()
    }

    // E12
    func testE12_chunkedBodyWithoutLastChunkGets408() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        let start = bbNow()
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 408)
        assertAbout(bbNow() - start, bodyTimeout)
        assertClosed(c, after: r)
        assertHealthy()
    }

    // The body timeout measures time without progress: a slow but steady body completes.
    func testH_bodyTimeoutIsResetByProgress() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        for b in bbBytes("hello") {
            usleep(350_000)
            c.send([b])
        }
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "hello")
        assertUsable(c, after: r)
        assertHealthy()
    }

    // F8
    func testF08_idleKeepAliveIsClosedSilently() throws {
        let c = try connect()
        c.send(Self.healthz)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        let start = bbNow()
        XCTAssertTrue(c.isClosedByPeer(timeout: idleTimeout + 1.5))
        assertAbout(bbNow() - start, idleTimeout)
        XCTAssertEqual(c.buffer.count, 0, "idle close must not send a response (no unsolicited 408)")
        assertHealthy()
    }

    func testF08_idleTimerRestartsAfterEachRequest() throws {
        let c = try connect()
        for _ in 0..<3 {
            c.send(Self.healthz)
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            usleep(UInt32(idleTimeout * 0.6 * 1_000_000))
        }
        assertUsable(c)
        assertHealthy()
    }

    func testH_connectionThatSendsNothingIsClosedSilently() throws {
        let c = try connect()
        let start = bbNow()
        XCTAssertTrue(c.isClosedByPeer(timeout: headerTimeout + 1.5))
        assertAbout(bbNow() - start, headerTimeout)
        XCTAssertEqual(c.buffer.count, 0, "no bytes were sent, so no 408 is due")
        assertHealthy()
    }

    func testH_handlerTimeIsNotLimitedByTheBodyOrIdleTimeout() throws {
        let c = try connect()
        c.send("GET /slow?ms=1200 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readResponse(timeout: 4)
        XCTAssertEqual(r.status, 200)
        assertUsable(c, after: r)
        assertHealthy()
    }
}
