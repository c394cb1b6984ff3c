// Black-box cases about slow or greedy clients: write timeout, output backpressure with
// pipelining, the connection cap, lingering close after 413, and drain of a half-received request.
import XCTest
import HTTP
#if canImport(Glibc)
import Glibc
#endif

final class BlackBoxTestsBackpressure: BlackBoxCase {
    private static let bigResponseSize = BlackBoxServer.bigJSON.utf8.count

    // I4: a client that never reads its responses is cut at the write timeout (2 s here).
    // (The server socket's send buffer is pinned small: loopback would otherwise absorb ~4 MiB.)
    func testI4_clientThatStopsReadingIsClosedAtTheWriteTimeout() throws {
        let c = try BBClient(port: port, receiveBuffer: 16 * 1024)
        XCTAssertTrue(c.shrinkServerSendBuffer(to: 16 * 1024, serverPort: port))
        let count = 40
        c.send((0..<count).map { _ in "GET /big HTTP/1.1\r\nHost: t\r\n\r\n" }.joined())
        usleep(200_000)
        assertHealthy()  // the loop is not blocked by the stuck connection
        // Not reading at all for longer than the write timeout (any read would be progress).
        usleep(UInt32(server.server.config.limits.writeTimeoutMs) * 1000 + 500_000)
        XCTAssertTrue(c.isClosedByPeer(timeout: 2), "connection of a non-reading client not closed")
        XCTAssertLessThan(c.buffer.count, count * Self.bigResponseSize, "every response arrived: the write timeout did not cut anything")
        assertHealthy()
    }

    // F6 + I4: a pipelining client that reads slowly must get every response, in order; the
    // server may stop reading while its output is backlogged, but must not fail the connection.
    func testF06_manyPipelinedRequestsWithSlowReaderAreAllAnswered() throws {
        let c = try BBClient(port: port, receiveBuffer: 16 * 1024)
        XCTAssertTrue(c.shrinkServerSendBuffer(to: 16 * 1024, serverPort: port))
        // ~4 MiB of responses and ~80 KiB of requests: more than the server's head buffer
        // (request line + header section limits, ~41 KiB) holds while its output is backlogged.
        let count = 80
        let pad = String(repeating: "p", count: 1_000)
        let requests = (0..<count).map { "GET /big?n=\($0) HTTP/1.1\r\nHost: t\r\nX-Pad: \(pad)\r\n\r\n" }.joined()
        XCTAssertGreaterThan(requests.utf8.count, 64 * 1024)
        XCTAssertTrue(c.send(requests))
        usleep(500_000)  // let the server's output back up (well below the 2 s write timeout)
        var statuses: [Int] = []
        do {
            for _ in 0..<count {
                let r = try c.readResponse(timeout: 5)
                statuses.append(r.status)
                if r.status != 200 { break }
                XCTAssertEqual(r.body.count, Self.bigResponseSize)
            }
        } catch {
            XCTFail("after \(statuses.count) responses: \(error)")
        }
        XCTAssertEqual(statuses.count, count, "statuses: \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
        XCTAssertEqual(statuses.filter { $0 != 200 }, [], "non-200 responses in the pipeline")
        if statuses.count == count { assertUsable(c) }
        assertHealthy()
    }

    // Connection cap: beyond maxConnections new connections get 503 + Retry-After and are closed.
    func testConnectionCapAnswers503AndCloses() throws {
        let s = try BlackBoxServer { $0.limits.maxConnections = 3 }
        defer { s.stop() }
        var held: [BBClient] = []
        for _ in 0..<3 { held.append(try connect(s.port)) }
        usleep(50_000)
        let extra = try connect(s.port)
        let r = try extra.readResponse()
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.header("retry-after"), "1")
        assertClosed(extra, after: r)
        // The held connections are still served.
        held[0].send(Self.healthz)
        XCTAssertEqual(try held[0].readResponse().status, 200)
        held.removeAll()
        usleep(100_000)
        assertHealthy(port: s.port)
    }

    // F7: a 413 must reach a client that sent its (moderate) body without waiting: the server
    // closes with shutdown(SHUT_WR) and drains the input instead of resetting the connection.
    func testF07_413IsDeliveredToAClientThatAlreadySentTheBody() throws {
        let body = [UInt8](repeating: 0x62, count: 48 * 1024)
        let c = try connect()
        c.send(bbBytes("PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n") + body)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413)
        assertClosed(c, after: r)
        XCTAssertFalse(c.sawReset, "the server reset the connection instead of a lingering close")
        assertHealthy()
    }

    func testE10_chunkSizeOverDefaultLimitIs413BeforeTheData() throws {
        let c = try connect()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n")
        let r = try c.readResponse(timeout: 2)
        XCTAssertEqual(r.status, 413)
        assertClosed(c, after: r)
        assertHealthy()
    }

    func testD15_getWithChunkedBodyThenPipelinedRequest() throws {
        let c = try connect()
        c.send("GET /items/1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\n"
               + "GET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try c.readResponse(), r2 = try c.readResponse()
        XCTAssertEqual(r1.text, #"{"id":"1"}"#)
        XCTAssertEqual(r2.text, #"{"id":"2"}"#)
        assertUsable(c, after: r2)
        assertHealthy()
    }

    // F13: a request whose head was partly received before the drain may complete, with close.
    func testF13_drainLetsAPartlyReceivedRequestFinishWithClose() throws {
        let s = try BlackBoxServer()
        let c = try connect(s.port)
        c.send("GET /items/late HTTP/1.1\r\n")
        usleep(100_000)
        s.server.beginDrain()
        usleep(100_000)
        c.send("Host: t\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"id":"late"}"#)
        assertClosed(c, after: r)
        s.server.waitUntilStopped()
        BlackBoxServer.retire(s)
    }

    // Header timeout while the previous response is still being written: the partial head that
    // follows a large response must still be timed out (408), not kept forever. The server's
    // socket gets a small send buffer (a slow network path) so that the 200 KiB response backs up
    // (EAGAIN) while staying under the 256 KiB backlog at which the server stops parsing.
    func testH_headerTimeoutStillAppliesAfterABackloggedResponse() throws {
        let c = try BBClient(port: port, receiveBuffer: 8 * 1024)
        XCTAssertTrue(c.shrinkServerSendBuffer(to: 16 * 1024, serverPort: port))
        c.send("GET /blob?kb=200 HTTP/1.1\r\nHost: t\r\n\r\nGET /items/1 HTTP/1.1\r\nHost: t\r\n")
        usleep(300_000)
        XCTAssertEqual(try c.readResponse().body.count, 200 * 1024)
        let start = bbNow()
        do {
            let r = try c.readResponse(timeout: 2.5)
            XCTAssertEqual(r.status, 408)
            assertClosed(c, after: r)
        } catch {
            XCTFail("no 408 for a head left incomplete after a backlogged response: \(error)")
        }
        XCTAssertLessThan(bbNow() - start, 2)
        assertHealthy()
    }

    // Body timeout while the previous response is still being written (same set-up).
    func testD14_bodyTimeoutStillAppliesAfterABackloggedResponse() throws {
        let c = try BBClient(port: port, receiveBuffer: 8 * 1024)
        XCTAssertTrue(c.shrinkServerSendBuffer(to: 16 * 1024, serverPort: port))
        c.send("GET /blob?kb=200 HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        usleep(300_000)
        XCTAssertEqual(try c.readResponse().body.count, 200 * 1024)
        let start = bbNow()
        do {
            let r = try c.readResponse(timeout: 2.5)
            XCTAssertEqual(r.status, 408)
            assertClosed(c, after: r)
        } catch {
            XCTFail("no 408 for a body stalled after a backlogged response: \(error)")
        }
        XCTAssertLessThan(bbNow() - start, 2)
        assertHealthy()
    }
}
