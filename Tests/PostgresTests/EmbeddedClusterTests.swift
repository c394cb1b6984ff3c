import Foundation
import Postgres
import XCTest

final class EmbeddedClusterTests: XCTestCase {
    func testFindsServerBinaries() throws {
        let bin = try EmbeddedCluster.findBinDirectory()
        for tool in ["initdb", "pg_ctl", "postgres"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: bin + "/" + tool), tool)
        }
        let message = EmbeddedClusterError.serverNotInstalled(searched: ["PATH"]).description
        XCTAssertTrue(message.contains("apt-get install postgresql-15"), message)
    }

    func testSharedTestDatabase() throws {
        let url = try TestDatabase.url()
        XCTAssertEqual(try TestDatabase.url(), url, "one shared instance per process")
        let conn = try Connection(url)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT current_database()")).decode(String.self, 0), "branchlink")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT current_user")).decode(String.self, 0), "branchlink")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SHOW server_encoding")).decode(String.self, 0), "UTF8")
        // A fresh database with the project's migrations applied, for other test targets.
        let migrated = try Connection(TestDatabase.createDatabase(prefix: "shared", migrated: true))
        XCTAssertEqual(try XCTUnwrap(migrated.queryRow("SELECT min(version) FROM schema_migrations")).decode(Int.self, 0), 1)
        XCTAssertNotEqual(try XCTUnwrap(migrated.queryRow("SELECT current_database()")).decode(String.self, 0), "branchlink")
        if let cluster = try TestDatabase.cluster() {
            XCTAssertTrue(cluster.isRunning)
            XCTAssertEqual(try XCTUnwrap(conn.queryRow("SHOW fsync")).decode(String.self, 0), "off")
            XCTAssertEqual(try XCTUnwrap(conn.queryRow("SHOW listen_addresses")).decode(String.self, 0), "")
            XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT current_setting('unix_socket_directories')")).decode(String.self, 0), cluster.socketDirectory)
            if getuid() == 0 {
                // The server runs unprivileged.
                let owner = try FileManager.default.attributesOfItem(atPath: cluster.dataDirectory)[.ownerAccountName] as? String
                XCTAssertEqual(owner, "nobody")
            }
        }
    }

    func testLongPathStaleInstanceAndRestartFromExistingData() throws {
        let longDir = NSTemporaryDirectory() + "bl-test-\(getpid())-long/" + String(repeating: "d", count: 90) + "/pg"
        defer { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "bl-test-\(getpid())-long") }
        let first = try EmbeddedCluster(directory: longDir, options: .init(fastTestSettings: true))
        defer { first.destroy() }
        XCTAssertTrue(first.socketDirectory.hasPrefix("/tmp/bl-"), "socket moved to a short path: \(first.socketDirectory)")
        XCTAssertLessThan((first.socketDirectory + "/.s.PGSQL.5432").utf8.count, 107)
        let url = try first.start()
        let conn = try Connection(url)
        try conn.simpleQuery("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('Đức')")
        let pid = try XCTUnwrap(conn.queryRow("SELECT pg_postmaster_start_time()")).decode(Date.self, 0)

        // A new manager for the same directory (as after a crash of the process that started it)
        // adopts the running postmaster instead of failing or starting a second one.
        let second = try EmbeddedCluster(directory: longDir, options: .init(fastTestSettings: true))
        let url2 = try second.start()
        let conn2 = try Connection(url2)
        XCTAssertEqual(try XCTUnwrap(conn2.queryRow("SELECT pg_postmaster_start_time()")).decode(Date.self, 0), pid)

        // Stop, then start again from the existing data directory (no initdb).
        try second.stop()
        XCTAssertFalse(second.isRunning)
        XCTAssertThrowsPostgres(.connectionUnavailable, try Connection(url2))
        try second.start()
        let conn3 = try Connection(url2)
        XCTAssertEqual(try XCTUnwrap(conn3.queryRow("SELECT v FROM kept")).decode(String.self, 0), "Đức")
    }
}
