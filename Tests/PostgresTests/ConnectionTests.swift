import Foundation
import Postgres
import XCTest

final class ConnectionTests: XCTestCase {
    /// host, port, user of the test server, parsed from its conninfo (or URL).
    func serverParts() throws -> (host: String, port: String, user: String)? {
        let url = try TestDatabase.url()
        guard !url.hasPrefix("postgres") else { return nil }
        var parts: [String: String] = [:]
        for pair in url.split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { parts[kv[0]] = kv[1] }
        }
        guard let host = parts["host"], let user = parts["user"] else { return nil }
        return (host, parts["port"] ?? "5432", user)
    }

    func testURLAndConninfoForms() throws {
        guard let s = try serverParts() else { throw XCTSkip("external URL") }
        let encodedHost = s.host.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        for form in [
            "postgres://\(s.user)@\(encodedHost):\(s.port)/branchlink",
            "postgresql:///branchlink?host=\(encodedHost)&port=\(s.port)&user=\(s.user)",
            "host=\(s.host) port=\(s.port) user=\(s.user) dbname=branchlink",
        ] {
            let conn = try Connection(form)
            let row = try XCTUnwrap(conn.queryRow("SELECT current_database(), current_setting('application_name'), current_setting('statement_timeout')"))
            XCTAssertEqual(try row.decode(String.self, 0), "branchlink", form)
            XCTAssertEqual(try row.decode(String.self, 1), "branchlink", "fallback application_name")
            XCTAssertEqual(try row.decode(String.self, 2), "5s")
        }
        // Values given in the connection string win.
        let custom = try Connection(
            "postgresql:///branchlink?host=\(encodedHost)&port=\(s.port)&user=\(s.user)&application_name=worker-7",
            statementTimeoutMilliseconds: 1234)
        let row = try XCTUnwrap(custom.queryRow("SELECT current_setting('application_name'), current_setting('statement_timeout')"))
        XCTAssertEqual(try row.decode(String.self, 0), "worker-7")
        XCTAssertEqual(try row.decode(String.self, 1), "1234ms")
        // Database replacement helper for both forms.
        XCTAssertEqual(replacingDatabase(in: "postgres://u@h:5/a?sslmode=disable", with: "b"), "postgres://u@h:5/b?sslmode=disable")
        XCTAssertEqual(replacingDatabase(in: "host=/tmp dbname=a", with: "b"), "host=/tmp dbname=a dbname=b")
    }

    func testUnreachableServerIsConnectionUnavailable() throws {
        let start = monotonicSeconds()
        XCTAssertThrowsPostgres(.connectionUnavailable, try Connection("host=/nonexistent-bl-dir port=5432 user=x dbname=x")) { e in
            XCTAssertTrue(e.message.contains("nonexistent-bl-dir"), e.message)
        }
        XCTAssertLessThan(monotonicSeconds() - start, 1)
        XCTAssertThrowsPostgres(.connectionUnavailable, try Connection("postgres://x@127.0.0.1:1/x"))
    }

    func testWrongDatabaseIsReported() throws {
        guard let s = try serverParts() else { throw XCTSkip("external URL") }
        XCTAssertThrowsPostgres(.connectionUnavailable, try Connection("host=\(s.host) port=\(s.port) user=\(s.user) dbname=does_not_exist")) { e in
            XCTAssertTrue(e.message.contains("does_not_exist"), e.message)
        }
    }
}
