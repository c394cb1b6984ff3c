// Black-box cases, checklist §(a) F (persistence, pipelining) and G9–G12 (100-continue).
import XCTest
import HTTP

final class BlackBoxTestsPipelining: BlackBoxCase {
    // F6
    func testF06_threeRequestsInOneWriteAreAnsweredInOrder() throws {
        let c = try connect()
        c.send((1...3).map { "GET /items/\($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined())
        for i in 1...3 {
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "{\"id\":\"\(i)\"}")
        }
        assertUsable(c)
        assertHealthy()
    }

    func testF06_slowWorkerRequestThenLoopRequestKeepOrder() throws {
        let c = try connect()
        c.send("GET /slow?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n" + Self.healthz + "GET /items/z HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try c.readResponse(), r2 = try c.readResponse(), r3 = try c.readResponse()
        XCTAssertEqual(r1.text, #"{"slept":150}"#)
        XCTAssertEqual(r2.text, #"{"status":"ok"}"#)
        XCTAssertEqual(r3.text, #"{"id":"z"}"#)
        assertUsable(c)
        assertHealthy()
    }

    func testF06_pipelinedAfterPostWithBody() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody" + "GET /items/after HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try c.readResponse()
        let r2 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.text, "body")
        XCTAssertEqual(r2.status, 200)
        XCTAssertEqual(r2.text, #"{"id":"after"}"#)
        assertUsable(c)
        assertHealthy()
    }

    func testF06_headInAPipelineHasNoBody() throws {
        let c = try connect()
        c.send("HEAD /items/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try c.readResponse(head: true)
        let r2 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.header("content-length"), "10")
        XCTAssertEqual(r2.status, 200)
        XCTAssertEqual(r2.text, #"{"id":"2"}"#, "bytes of a HEAD body would corrupt the next response")
        assertUsable(c)
        assertHealthy()
    }

    func testF06_requestSplitAcrossManyWrites() throws {
        let c = try connect()
        for b in bbBytes("GET /items/split HTTP/1.1\r\nHost: t\r\n\r\n") {
            c.send([b])
        }
        let r = try c.readResponse()
        XCTAssertEqual(r.text, #"{"id":"split"}"#)
        assertUsable(c, after: r)
        assertHealthy()
    }

    // F2 / F14
    func testF14_bytesAfterConnectionCloseAreNotProcessed() throws {
        let c = try connect()
        c.send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"
               + "GET /items/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
               + "GET /items/3 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try c.readResponse(), r2 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertFalse(r1.saysClose)
        XCTAssertEqual(r2.text, #"{"id":"2"}"#)
        assertClosed(c, after: r2)
        assertHealthy()
    }

    func testF06_errorInThirdPipelinedRequestAnswersTheFirstTwo() throws {
        let c = try connect()
        c.send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n" + "GET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n" + "GET /x HTTP/9.9\r\n\r\n")
        let r1 = try c.readResponse(), r2 = try c.readResponse(), r3 = try c.readResponse()
        XCTAssertEqual([r1.status, r2.status, r3.status], [200, 200, 505])
        assertClosed(c, after: r3)
        assertHealthy()
    }
}

final class BlackBoxTestsKeepAlive: BlackBoxCase {
    // F1
    func testF01_http11IsPersistentByDefault() throws {
        let c = try connect()
        for i in 0..<3 {
            c.send("GET /items/\(i) HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertNil(r.header("connection"))
        }
        assertUsable(c)
        assertHealthy()
    }

    // F3 / F5
    func testF03_http10ClosesByDefaultAndAnswersWith11StatusLine() {
        let r = expect("GET /items/1 HTTP/1.0\r\nHost: t\r\n\r\n", status: 200, then: .closed)
        XCTAssertEqual(r?.statusLine, "HTTP/1.1 200 OK")
        XCTAssertNil(r?.header("transfer-encoding"))
        XCTAssertEqual(r?.header("content-length"), "10")
    }

    // F4
    func testF04_http10KeepAliveStaysOpen() {
        let r = expect("GET /items/1 HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n", status: 200, then: .usable)
        XCTAssertEqual(r?.header("connection")?.lowercased(), "keep-alive")
        XCTAssertEqual(r?.header("content-length"), "10")
    }

    // F2
    func testF02_connectionCloseIsHonoured() {
        expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", status: 200, then: .closed)
    }

    func testF02_connectionCloseInAListAndAnyCase() {
        expect("GET /items/1 HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, CLOSE\r\n\r\n", status: 200, then: .closed)
    }

    func testF02_connectionCloseOnWorkerRoute() {
        expect("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", status: 200, then: .closed)
    }

    // F10
    func testF10_halfCloseAfterCompleteRequestIsStillAnswered() throws {
        let c = try connect()
        c.send("GET /items/half HTTP/1.1\r\nHost: t\r\n\r\n")
        c.shutdownWrite()
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"id":"half"}"#)
        XCTAssertTrue(c.isClosedByPeer(), "server should close after the half-closed client's request")
        assertHealthy()
    }

    func testF10_halfCloseOnLoopRoute() throws {
        let c = try connect()
        c.send(Self.healthz)
        c.shutdownWrite()
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(c.isClosedByPeer())
        assertHealthy()
    }

    func testF10_halfCloseAfterAPostWithBody() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody")
        c.shutdownWrite()
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "body")
        XCTAssertTrue(c.isClosedByPeer())
        assertHealthy()
    }

    func testF10_halfCloseAfterPipelinedRequestsAnswersAllOfThem() throws {
        let c = try connect()
        c.send((1...3).map { "GET /items/\($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined())
        c.shutdownWrite()
        for i in 1...3 {
            let r = try c.readResponse()
            XCTAssertEqual(r.text, "{\"id\":\"\(i)\"}")
        }
        XCTAssertTrue(c.isClosedByPeer())
        assertHealthy()
    }

    // F11
    func testF11_clientResetWhileHandlerRunsDoesNotHurtTheServer() throws {
        for _ in 0..<5 {
            let c = try connect()
            c.send("GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n")
            var lin = linger(l_onoff: 1, l_linger: 0)
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size))
        }
        usleep(150_000)
        assertHealthy()
    }

    // F9
    func testF09_maxRequestsPerConnectionClosesAfterN() throws {
        let s = try BlackBoxServer { $0.limits.maxRequestsPerConnection = 5 }
        defer { s.stop() }
        let c = try connect(s.port)
        for i in 1...5 {
            c.send("GET /items/\(i) HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            if i < 5 {
                XCTAssertFalse(r.saysClose, "request \(i)")
            } else {
                assertClosed(c, after: r)
            }
        }
        assertHealthy(port: s.port)
    }

    func testF09_maxRequestsPerConnectionWithPipelining() throws {
        let s = try BlackBoxServer { $0.limits.maxRequestsPerConnection = 5 }
        defer { s.stop() }
        let c = try connect(s.port)
        c.send((1...7).map { "GET /items/\($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined())
        for i in 1...5 {
            let r = try c.readResponse()
            XCTAssertEqual(r.text, "{\"id\":\"\(i)\"}")
            if i == 5 { assertClosed(c, after: r) }
        }
        assertHealthy(port: s.port)
    }
}

final class BlackBoxTestsContinue: BlackBoxCase {
    // G9
    func testG09_continueIsSentBeforeTheBody() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try c.readResponse()
        XCTAssertEqual(interim.status, 100)
        XCTAssertEqual(interim.statusLine, "HTTP/1.1 100 Continue")
        c.send("hello")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "hello")
        assertUsable(c, after: r)
        assertHealthy()
    }

    func testG09_continueWithChunkedBody() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        let interim = try c.readResponse()
        XCTAssertEqual(interim.status, 100)
        c.send("3\r\nabc\r\n0\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "abc")
        assertUsable(c, after: r)
        assertHealthy()
    }

    func testG09_noContinueWhenTheBodyIsAlreadyThere() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200, "the final response should come without an interim 100")
        XCTAssertEqual(r.text, "hello")
        assertUsable(c, after: r)
        assertHealthy()
    }

    func testG09_noContinueForABodylessRequest() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        assertUsable(c, after: r)
        assertHealthy()
    }

    // G10
    func testG10_unknownRouteAnswersFinalStatusWithoutContinueAndCloses() {
        expect("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", status: 404, then: .closed)
    }

    func testG10_wrongMethodAnswers405WithoutContinueAndCloses() {
        let r = expect("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", status: 405, then: .closed)
        XCTAssertNotNil(r?.header("allow"))
    }

    func testG10_declaredBodyOverLimitAnswers413WithoutContinue() {
        expect("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n", status: 413, then: .closed)
    }

    // G11
    func testG11_otherExpectationIs417() {
        expect("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: teapot\r\n\r\nhello", status: 417, then: .closed)
    }

    // G12
    func testG12_noContinueIsSentToHTTP10() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.0\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertFalse(c.waitReadable(0.3), "nothing (no 100) may be sent to an HTTP/1.0 client")
        c.send("hello")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "hello")
        assertClosed(c, after: r)
        assertHealthy()
    }
}
