import Foundation
import Postgres
import XCTest

final class PreparedStatementTests: XCTestCase {
    func testStatementsArePreparedOncePerSQLText() throws {
        let conn = try TestDB.connect("prep")
        try conn.simpleQuery("DROP TABLE IF EXISTS items; CREATE TABLE items (id int PRIMARY KEY, name text, org uuid, created_at timestamptz DEFAULT now())")
        let before = conn.prepareCount
        let org = UUID()
        for i in 1...50 {
            try conn.execute("INSERT INTO items (id, name, org) VALUES ($1, $2, $3)", i, "item \(i)", org)
        }
        for i in 1...50 {
            let row = try XCTUnwrap(conn.queryRow("SELECT id, name, org, created_at FROM items WHERE id = $1", i))
            XCTAssertEqual(try row.decode(String.self, "name"), "item \(i)")
        }
        XCTAssertEqual(conn.prepareCount - before, 2, "one PREPARE per SQL text")
        XCTAssertEqual(conn.preparedStatementCount, 2)
        let serverSide = try XCTUnwrap(conn.queryRow("SELECT count(*) FROM pg_prepared_statements")).decode(Int.self, 0)
        XCTAssertEqual(serverSide, 3, "two cached statements + this count query")
        // Server-side names are s1, s2, … (the listing query itself is s4).
        let names = try conn.query("SELECT name FROM pg_prepared_statements ORDER BY name").map { try $0.decode(String.self, 0) }
        XCTAssertEqual(names, ["s1", "s2", "s3", "s4"])
        XCTAssertEqual(conn.preparedStatementCount, 4)

        // Unprepared queries do not add to the cache.
        _ = try conn.queryUnprepared("SELECT $1::int + 1", parameters: [1])
        XCTAssertEqual(conn.preparedStatementCount, 4)
        XCTAssertEqual(conn.prepareCount - before, 4)
    }

    func testStatementDroppedOnServerIsRePrepared() throws {
        let conn = try TestDB.connect("prep")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1::int8 * 2", 21)).decode(Int.self, 0), 42)
        try conn.simpleQuery("DEALLOCATE ALL")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1::int8 * 2", 21)).decode(Int.self, 0), 42)
        XCTAssertEqual(conn.prepareCount, 2, "prepared, then prepared again after DEALLOCATE ALL")
    }

    func testResultTypeChangeIsRePrepared() throws {
        let conn = try TestDB.connect("prep")
        try conn.simpleQuery("DROP TABLE IF EXISTS shape; CREATE TABLE shape (a int); INSERT INTO shape VALUES (1)")
        XCTAssertEqual(try conn.query("SELECT * FROM shape")[0].columnCount, 1)
        try conn.simpleQuery("ALTER TABLE shape ADD COLUMN b text DEFAULT 'x'")
        let row = try conn.query("SELECT * FROM shape")[0]
        XCTAssertEqual(row.columnCount, 2)
        XCTAssertEqual(try row.decode(String.self, "b"), "x")
    }

    func testSameSQLWithDifferentParameterTypes() throws {
        let conn = try TestDB.connect("prep")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1::text", 5)).decode(String.self, 0), "5")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1::text", "five")).decode(String.self, 0), "five")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1::text", Int32(6))).decode(String.self, 0), "6")
        XCTAssertEqual(conn.preparedStatementCount, 3)
    }
}
