import Foundation
import Postgres
import XCTest

/// Uses a private cluster so restarting it does not disturb other tests.
final class ReconnectTests: XCTestCase {
    func testReconnectAfterRestartAndFastFailureWhileDown() throws {
        if ProcessInfo.processInfo.environment["BRANCHLINK_TEST_DATABASE_URL"] != nil,
            (try? EmbeddedCluster.findBinDirectory()) == nil
        {
            throw XCTSkip("no PostgreSQL server binaries to run a private cluster")
        }
        let cluster = try EmbeddedCluster.temporary()
        defer { cluster.destroy() }
        let conn = try Connection(cluster.connectionString)
        try conn.simpleQuery("CREATE TABLE t (id int PRIMARY KEY)")
        try conn.execute("INSERT INTO t VALUES ($1)", 1)
        let firstPID = conn.backendPID

        // 1. pg_ctl restart: the idle session was terminated (57P01); the next call reconnects and
        //    runs the statement.
        try cluster.restart()
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT count(*) FROM t WHERE id = $1", 1)).decode(Int.self, 0), 1)
        XCTAssertNotEqual(conn.backendPID, firstPID)
        XCTAssertEqual(conn.reconnectCount, 1)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SHOW statement_timeout")).decode(String.self, 0), "5s", "session settings restored")

        // 2. Server down: calls fail fast with .connectionUnavailable (the HTTP layer's 503).
        try cluster.stop()
        var timings: [Double] = []
        for _ in 0..<3 {
            let start = monotonicSeconds()
            XCTAssertThrowsPostgres(.connectionUnavailable, try conn.query("SELECT count(*) FROM t"))
            timings.append(monotonicSeconds() - start)
        }
        XCTAssertFalse(conn.ping())
        XCTAssertFalse(conn.isHealthy)
        for t in timings { XCTAssertLessThan(t, 0.1, "failure while down must be fast: \(timings)") }
        print("reconnect: calls while the server is down failed in \(timings.map { String(format: "%.2f ms", $0 * 1000) })")

        // 3. Server back: after the backoff interval the next call succeeds.
        let restartStart = monotonicSeconds()
        try cluster.start()
        let restartTook = monotonicSeconds() - restartStart
        usleep(600_000)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT count(*) FROM t")).decode(Int.self, 0), 1)
        XCTAssertTrue(conn.isHealthy)
        XCTAssertTrue(conn.ping())
        print("reconnect: pg_ctl start took \(String(format: "%.0f ms", restartTook * 1000)); first call after it succeeded")

        // 4. A transaction interrupted by a restart is not rerun: the call fails, the next works.
        try conn.simpleQuery("BEGIN")
        try conn.execute("INSERT INTO t VALUES ($1)", 2)
        try cluster.restart()
        XCTAssertThrowsPostgres(.connectionUnavailable, try conn.execute("INSERT INTO t VALUES ($1)", 3))
        usleep(600_000)
        XCTAssertEqual(try conn.query("SELECT id FROM t ORDER BY id").map { try $0.decode(Int.self, 0) }, [1])
    }

    func testConnectionOpenedWhileServerIsDown() throws {
        let cluster = try EmbeddedCluster.temporary()
        defer { cluster.destroy() }
        let url = cluster.connectionString
        try cluster.stop()
        XCTAssertThrowsPostgres(.connectionUnavailable, try Connection(url))
        let lazy = try Connection(configuration: PostgresConfiguration(url, reconnectBackoff: .milliseconds(100)), requireConnection: false)
        XCTAssertThrowsPostgres(.connectionUnavailable, try lazy.query("SELECT 1"))
        try cluster.start()
        usleep(150_000)
        XCTAssertEqual(try XCTUnwrap(lazy.queryRow("SELECT 1")).decode(Int.self, 0), 1)
    }
}
