import Foundation
import Postgres
import XCTest

final class MigratorTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "bl-migrations-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ name: String, _ sql: String) throws {
        try sql.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }

    func versions(_ conn: Connection) throws -> [Int] {
        try conn.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self, 0) }
    }

    func testAppliesInOrderOnceAndRecordsChecksums() throws {
        try write("1_log.sql", "CREATE TABLE log (seq serial PRIMARY KEY, v int NOT NULL);\nINSERT INTO log (v) VALUES (1);")
        try write("10_tenth.sql", "INSERT INTO log (v) VALUES (10);")
        try write("2_second.sql", "INSERT INTO log (v) VALUES (2);\nCREATE TABLE second (id int);")
        try write("README.md", "not a migration")
        let conn = try Connection(TestDatabase.createDatabase(prefix: "mig"))
        let migrator = Migrator(directory: dir)

        let applied = try migrator.migrate(conn)
        XCTAssertEqual(applied.map(\.version), [1, 2, 10], "numeric order, not lexical")
        XCTAssertEqual(applied.map(\.name), ["log", "second", "tenth"])
        XCTAssertEqual(try conn.query("SELECT v FROM log ORDER BY seq").map { try $0.decode(Int.self, 0) }, [1, 2, 10])
        let row = try XCTUnwrap(conn.queryRow("SELECT name, checksum, applied_at FROM schema_migrations WHERE version = 2"))
        XCTAssertEqual(try row.decode(String.self, 0), "second")
        XCTAssertEqual(try row.decode(String.self, 1), applied[1].checksum)
        XCTAssertEqual(applied[1].checksum.count, 64)
        XCTAssertLessThan(abs(try row.decode(Date.self, 2).timeIntervalSinceNow), 60)
        // Checksum is the SHA-256 of the file bytes (checked against the server's sha256()).
        let serverSum = try XCTUnwrap(conn.queryRow("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", applied[1].sql)).decode(String.self, 0)
        XCTAssertEqual(serverSum, applied[1].checksum)

        // Second run: nothing to do, nothing re-run.
        XCTAssertEqual(try migrator.migrate(conn), [])
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT count(*) FROM log")).decode(Int.self, 0), 3)

        // A new file is applied on the next run.
        try write("11_more.sql", "INSERT INTO log (v) VALUES (11);")
        XCTAssertEqual(try migrator.migrate(conn).map(\.fileName), ["11_more.sql"])
        XCTAssertEqual(try versions(conn), [1, 2, 10, 11])
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SHOW statement_timeout")).decode(String.self, 0), "5s", "timeout restored")
    }

    func testChangedAppliedMigrationIsRefused() throws {
        try write("0001_a.sql", "CREATE TABLE a (id int);")
        let conn = try Connection(TestDatabase.createDatabase(prefix: "mig"))
        try Migrator(directory: dir).migrate(conn)
        try write("0001_a.sql", "CREATE TABLE a (id int, extra text);")
        try write("0002_b.sql", "CREATE TABLE b (id int);")
        XCTAssertThrowsError(try Migrator(directory: dir).migrate(conn)) { error in
            guard case MigrationError.checksumMismatch(let version, let file, _, _) = error else {
                return XCTFail("expected checksumMismatch, got \(error)")
            }
            XCTAssertEqual(version, 1)
            XCTAssertEqual(file, "0001_a.sql")
            XCTAssertTrue("\(error)".contains("0001_a.sql"))
        }
        XCTAssertEqual(try versions(conn), [1], "nothing applied after the refusal")
        XCTAssertNil(try conn.queryRow("SELECT 1 FROM pg_class WHERE relname = 'b'"))
    }

    func testFailingMigrationRollsBackAndIsNotRecorded() throws {
        try write("0001_ok.sql", "CREATE TABLE ok (id int);")
        try write("0002_bad.sql", "CREATE TABLE half (id int);\nINSERT INTO nope VALUES (1);")
        let conn = try Connection(TestDatabase.createDatabase(prefix: "mig"))
        XCTAssertThrowsError(try Migrator(directory: dir).migrate(conn)) { error in
            guard case MigrationError.migrationFailed(let file, let pg) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "0002_bad.sql")
            XCTAssertEqual(pg.sqlState, "42P01")
        }
        XCTAssertEqual(try versions(conn), [1])
        XCTAssertNil(try conn.queryRow("SELECT 1 FROM pg_class WHERE relname = 'half'"), "its first statement was rolled back")
        XCTAssertTrue(conn.isHealthy)
    }

    func testBadFileNamesAndDuplicates() throws {
        try write("0001_a.sql", "SELECT 1;")
        try write("01_dup.sql", "SELECT 1;")
        XCTAssertThrowsError(try Migrator(directory: dir).loadMigrations()) { error in
            guard case MigrationError.duplicateVersion(1, let files) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(files, ["0001_a.sql", "01_dup.sql"])
        }
        try FileManager.default.removeItem(atPath: dir + "/01_dup.sql")
        try write("create_things.sql", "SELECT 1;")
        XCTAssertThrowsError(try Migrator(directory: dir).loadMigrations()) { error in
            guard case MigrationError.invalidFileName("create_things.sql") = error else { return XCTFail("\(error)") }
        }
    }

    func testConcurrentMigratorsApplyEachMigrationOnce() throws {
        try write("0001_counter.sql", "CREATE TABLE runs (migration int NOT NULL, backend int NOT NULL DEFAULT pg_backend_pid());\nINSERT INTO runs (migration) VALUES (1);\nSELECT pg_sleep(0.3);")
        try write("0002_t.sql", "CREATE TABLE t2 (id int);\nINSERT INTO runs (migration) VALUES (2);\nSELECT pg_sleep(0.1);")
        try write("0003_t.sql", "CREATE TABLE t3 (id int);\nINSERT INTO runs (migration) VALUES (3);")
        let url = try TestDatabase.createDatabase(prefix: "mig")
        let directory = dir!
        let start = DispatchSemaphore(value: 0)
        let runs = (0..<2).map { _ in
            onThread { () -> [Int] in
                let conn = try Connection(url)
                start.wait()
                return try Migrator(directory: directory).migrate(conn).map(\.version)
            }
        }
        start.signal()
        start.signal()
        let results = try runs.map { try $0.wait() }
        XCTAssertEqual(results.flatMap { $0 }.sorted(), [1, 2, 3], "each migration applied by exactly one instance: \(results)")
        let conn = try Connection(url)
        XCTAssertEqual(try conn.query("SELECT migration FROM runs ORDER BY migration").map { try $0.decode(Int.self, 0) }, [1, 2, 3])
        XCTAssertEqual(try versions(conn), [1, 2, 3])
    }

    func testProjectMigrationsApply() throws {
        let located = try Migrator.locateDirectory()
        XCTAssertTrue(located.hasSuffix("/migrations"), located)
        let migrations = try Migrator(directory: located).loadMigrations()
        XCTAssertEqual(migrations.first?.fileName, "0001_foundation.sql")
        let conn = try Connection(TestDatabase.createDatabase(prefix: "mig"))
        let applied = try Migrator(directory: located).migrate(conn)
        XCTAssertEqual(applied.map(\.version), migrations.map(\.version))
        let extensions = Set(try conn.query("SELECT extname FROM pg_extension").map { try $0.decode(String.self, 0) })
        XCTAssertTrue(extensions.isSuperset(of: ["pg_trgm", "unaccent", "ltree", "pgcrypto"]), "\(extensions)")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT unaccent($1)", "Nguyễn Văn Đức")).decode(String.self, 0), "Nguyen Van Duc")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT 'a.b.c'::ltree <@ 'a.b'::ltree, 'a.b.c'::ltree")).decode(Bool.self, 0), true)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT 'a.b.c'::ltree")).decode(String.self, 0), "a.b.c", "ltree binary version byte stripped")
        XCTAssertEqual(try Migrator(directory: located).migrate(conn), [])
    }

    func testLocateDirectory() throws {
        XCTAssertEqual(try Migrator.locateDirectory(explicit: dir), dir)
        XCTAssertEqual(try Migrator.locateDirectory(environment: ["BRANCHLINK_MIGRATIONS_DIR": dir]), dir)
        XCTAssertThrowsError(try Migrator.locateDirectory(explicit: dir + "/missing")) { error in
            guard case MigrationError.directoryNotFound = error else { return XCTFail("\(error)") }
        }
        // Walking up from a source file inside the package finds <root>/migrations beside Package.swift.
        let found = try Migrator.locateDirectory(environment: [:], filePath: #filePath)
        let root = URL(fileURLWithPath: found).deletingLastPathComponent().path
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/Package.swift"))
    }
}
