import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// The operational endpoints over a real socket against a real database.
final class OperationsTests: XCTestCase {
    func testHealthReadyMetricsAndContract() throws {
        let t = try TestApp()
        defer { t.stop() }

        let health = try t.get("/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(try health.json()["status"] as? String, "ok")
        XCTAssertNotNil(health.headers["x-request-id"])

        let ready = try t.get("/readyz", headers: ["X-Request-Id": "ready-check-1"])
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(try ready.json()["database"] as? String, "ok")
        XCTAssertEqual(ready.headers["x-request-id"], "ready-check-1")

        let metrics = try t.get("/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") ?? false)
        for series in ["http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1",
                       "http_request_duration_seconds_bucket{route=\"/healthz\"", "http_requests_in_flight",
                       "http_queue_depth", "http_queue_wait_seconds_count", "db_connections{state=\"open\"} 2",
                       "http_connections_open"] {
            XCTAssertTrue(metrics.text.contains(series), "missing \(series)")
        }

        let contract = try t.get("/openapi.yaml")
        XCTAssertEqual(contract.status, 200)
        XCTAssertEqual(contract.headers["content-type"], "application/yaml; charset=utf-8")
        XCTAssertTrue(contract.text.hasPrefix("openapi: 3.1"))
    }

    func testEveryRouteIsInTheContract() throws {
        let t = try TestApp()
        defer { t.stop() }
        let yaml = try t.get("/openapi.yaml").text
        let documented = Set(yaml.split(separator: "\n").compactMap { line -> String? in
            // Path keys sit at two spaces of indent under `paths:` and start with "/".
            guard line.hasPrefix("  /"), line.hasSuffix(":") else { return nil }
            return String(line.dropFirst(2).dropLast())
        })
        for route in t.app.server.router.routes {
            XCTAssertTrue(documented.contains(route.pattern), "\(route.method) \(route.pattern) is not in openapi.yaml")
            let section = Self.section(of: route.pattern, in: yaml)
            XCTAssertTrue(section.contains("    \(route.method.lowercased()):"), "\(route.method) \(route.pattern) has no operation in openapi.yaml")
        }
    }

    /// While the database is down, database routes answer 503 at once; after it is back they recover
    /// without a restart of the application.
    func testDatabaseOutageGivesFastServiceUnavailableThenRecovers() throws {
        guard let cluster = try TestDatabase.cluster() else { throw XCTSkip("external test database: cannot stop it") }
        let t = try TestApp()
        defer { t.stop() }
        XCTAssertEqual(try t.get("/readyz").status, 200)

        try cluster.stop()
        var restarted = false
        defer { if !restarted { _ = try? cluster.start() } }
        for _ in 0..<5 {
            let started = Date()
            let r = try t.get("/readyz")
            let elapsed = Date().timeIntervalSince(started)
            XCTAssertEqual(r.status, 503)
            XCTAssertEqual(try r.json()["code"] as? String, "not_ready")
            XCTAssertLessThan(elapsed, 0.5, "a request during an outage must fail fast")
        }
        XCTAssertEqual(try t.get("/healthz").status, 200, "liveness does not depend on the database")

        _ = try cluster.start()
        restarted = true
        var recovered = false
        for _ in 0..<50 where !recovered {
            recovered = try t.get("/readyz").status == 200
            if !recovered { usleep(100_000) }
        }
        XCTAssertTrue(recovered, "readyz did not recover after the database came back")
    }

    static func section(of path: String, in yaml: String) -> String {
        guard let start = yaml.range(of: "\n  \(path):\n") else { return "" }
        let rest = yaml[start.upperBound...]
        let end = rest.range(of: "\n  /")?.lowerBound ?? rest.range(of: "\ncomponents:")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }
}
