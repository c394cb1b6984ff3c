// Black-box cases with their own servers: queue overload (503 + Retry-After), graceful drain
// (beginDrain and SIGTERM), drain timeout.
import XCTest
import HTTP
#if canImport(Glibc)
import Glibc
#endif

final class BlackBoxTestsOverload: BlackBoxCase {
    /// One handler thread and one queue slot: A runs (900 ms), B waits in the queue past
    /// queueMaxWaitMs (→ 503 when finally popped), C finds the queue full (→ 503 at once).
    func testQueueFullAndQueuedTooLongAre503WithRetryAfter() throws {
        let s = try BlackBoxServer {
            $0.workerCount = 1
            $0.queueCapacity = 1
            $0.queueMaxWaitMs = 400
        }
        defer { s.stop() }
        let a = try connect(s.port), b = try connect(s.port), cl = try connect(s.port)
        a.send("GET /slow?ms=900 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(150_000)  // A is running on the only worker
        b.send("GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)  // B occupies the only queue slot
        let cStart = bbNow()
        cl.send("GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        let rc = try cl.readResponse()
        XCTAssertEqual(rc.status, 503, "queue full")
        XCTAssertEqual(rc.header("retry-after"), "1")
        XCTAssertLessThan(bbNow() - cStart, 0.5, "a full queue must be answered at once")
        // Queue full is not a framing error: the connection stays usable (loop routes still answer).
        assertUsable(cl, after: rc)
        assertHealthy(port: s.port)

        let ra = try a.readResponse()
        XCTAssertEqual(ra.status, 200)
        let rb = try b.readResponse()
        XCTAssertEqual(rb.status, 503, "B waited longer than queueMaxWaitMs")
        XCTAssertEqual(rb.header("retry-after"), "1")
        assertUsable(b, after: rb)
        assertUsable(a, after: ra)
        // Once the load is gone, worker routes succeed again.
        b.send("GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try b.readResponse().status, 200)
        assertHealthy(port: s.port)
    }

    func testLoopRoutesAnswerWhileEveryWorkerIsBusy() throws {
        let s = try BlackBoxServer { $0.workerCount = 1; $0.queueCapacity = 4 }
        defer { s.stop() }
        let a = try connect(s.port)
        a.send("GET /slow?ms=700 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)
        let start = bbNow()
        assertHealthy(port: s.port)
        let c = try connect(s.port)
        c.send("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 404)
        XCTAssertLessThan(bbNow() - start, 0.4, "health and routing errors must not wait for a handler thread")
        XCTAssertEqual(try a.readResponse().status, 200)
    }
}

final class BlackBoxTestsDrain: BlackBoxCase {
    func testDrainFinishesInFlightClosesIdleRefusesNewAndStops() throws {
        let s = try BlackBoxServer { $0.drainTimeoutMs = 2_000 }
        let inFlight = try connect(s.port)
        let idle = try connect(s.port)
        idle.send(Self.healthz)
        XCTAssertEqual(try idle.readResponse().status, 200)
        inFlight.send("GET /slow?ms=600 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)

        let start = bbNow()
        s.server.beginDrain()

        // Idle keep-alive connections are closed at once, silently.
        XCTAssertTrue(idle.isClosedByPeer(timeout: 0.5), "idle keep-alive connection not closed by the drain")
        XCTAssertEqual(idle.buffer.count, 0)
        // New connections are refused.
        assertRefusesNewConnections(port: s.port)
        // The in-flight request completes, with Connection: close.
        let r = try inFlight.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"slept":600}"#)
        assertClosed(inFlight, after: r)

        s.server.waitUntilStopped()
        let elapsed = bbNow() - start
        XCTAssertLessThan(elapsed, 2.0 + 0.5, "waitUntilStopped exceeded the drain timeout")
        BlackBoxServer.retire(s)
        assertHealthy()  // the shared server is unaffected
    }

    func testDrainAnswersAPipelinedRequestAlreadyInTheBufferOrClosesCleanly() throws {
        let s = try BlackBoxServer()
        let c = try connect(s.port)
        c.send("GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n" + Self.healthz)
        usleep(100_000)
        s.server.beginDrain()
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.saysClose, "the in-flight response during a drain must say close")
        XCTAssertTrue(c.isClosedByPeer(), "the connection must close after the in-flight response")
        XCTAssertEqual(c.buffer.count, 0, "the pipelined request must not be served after connection: close")
        s.server.waitUntilStopped()
        BlackBoxServer.retire(s)
    }

    /// A handler slower than the grace period: the drain deadline cuts the connection, and
    /// `waitUntilStopped` must still return within the grace period (exit within grace, F13).
    func testDrainTimeoutCutsSlowRequestsAndStopsWithinTheGracePeriod() throws {
        let s = try BlackBoxServer { $0.drainTimeoutMs = 500 }
        let c = try connect(s.port)
        c.send("GET /slow?ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)
        let start = bbNow()
        s.server.beginDrain()
        XCTAssertTrue(c.isClosedByPeer(timeout: 2), "connection not cut at the drain timeout")
        let cut = bbNow() - start
        XCTAssertGreaterThanOrEqual(cut, 0.4)
        XCTAssertLessThan(cut, 1.3)
        s.server.waitUntilStopped()
        XCTAssertLessThan(bbNow() - start, 1.5, "waitUntilStopped blocked on a handler beyond the drain timeout")
        BlackBoxServer.retire(s)
        assertHealthy()
    }
}

/// Runs last (class name sorts last): installs the process-wide SIGTERM/SIGINT handler. The
/// handler exits the process on a second signal, so exactly one SIGTERM is sent.
final class BlackBoxTestsZSignal: BlackBoxCase {
    func testZ_SIGTERMDrainsLikeBeginDrain() throws {
        let s = try BlackBoxServer(config: BlackBoxServer.testConfig(), signals: true)
        // The handler stays installed (and counts this signal); give the process its default back.
        defer { signal(SIGTERM, SIG_DFL); signal(SIGINT, SIG_DFL) }
        let inFlight = try connect(s.port)
        let idle = try connect(s.port)
        idle.send(Self.healthz)
        XCTAssertEqual(try idle.readResponse().status, 200)
        inFlight.send("GET /slow?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)

        let start = bbNow()
        XCTAssertEqual(kill(getpid(), SIGTERM), 0)

        XCTAssertTrue(idle.isClosedByPeer(timeout: 0.5), "idle connection not closed after SIGTERM")
        XCTAssertEqual(idle.buffer.count, 0)
        let r = try inFlight.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 200)
        assertClosed(inFlight, after: r)
        assertRefusesNewConnections(port: s.port)
        s.server.waitUntilStopped()
        XCTAssertLessThan(bbNow() - start, 2.5)
        XCTAssertTrue(s.server.isDraining)
        BlackBoxServer.retire(s)
        assertHealthy()
    }
}
