import Foundation
import Postgres
import XCTest

final class CopyTests: XCTestCase {
    var conn: Connection!

    override func setUpWithError() throws {
        conn = try TestDB.connect("copy")
        try conn.simpleQuery("DROP TABLE IF EXISTS bulk; CREATE TABLE bulk (id int PRIMARY KEY, name text, note text, amount numeric)")
    }

    override func tearDown() { conn = nil }

    func testCopy100kRows() throws {
        let n = 100_000
        let rows = (1...n).lazy.map { i -> [String?] in
            [String(i), i == 7 ? "Nguyễn Văn Đức" : "name \(i)", i % 10 == 0 ? nil : "tab\there\\back\nnl\rcr", "\(i).25"]
        }
        let start = monotonicSeconds()
        let copied = try conn.copyIn(sql: "COPY bulk (id, name, note, amount) FROM STDIN", rows: rows)
        let elapsed = monotonicSeconds() - start
        print("COPY of \(n) rows took \(String(format: "%.0f ms", elapsed * 1000)) (\(Int(Double(n) / elapsed)) rows/s)")
        XCTAssertEqual(copied, n)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT count(*), count(note), sum(id) FROM bulk")).decode(Int.self, 0), n)
        let counts = try XCTUnwrap(conn.queryRow("SELECT count(note), sum(id) FROM bulk"))
        XCTAssertEqual(try counts.decode(Int.self, 0), n - n / 10, "every tenth note is NULL")
        XCTAssertEqual(try counts.decode(Decimal.self, 1), Decimal(n * (n + 1) / 2))
        let sample = try XCTUnwrap(conn.queryRow("SELECT name, note, amount FROM bulk WHERE id = $1", 7))
        XCTAssertEqual(try sample.decode(String.self, 0), "Nguyễn Văn Đức")
        XCTAssertEqual(try sample.decode(String.self, 1), "tab\there\\back\nnl\rcr")
        XCTAssertEqual(try sample.decode(Decimal.self, 2), Decimal(string: "7.25"))
        XCTAssertNil(try XCTUnwrap(conn.queryRow("SELECT note FROM bulk WHERE id = 50000")).decode(String?.self, 0))
        XCTAssertLessThan(elapsed, 30)
    }

    func testStreamingWriterAndAbort() throws {
        let copied = try conn.copyIn(sql: "COPY bulk (id, name) FROM STDIN") { w in
            for i in 1...3 {
                w.appendField(String(i), separator: false)
                w.appendField("\\N is not null", separator: true)
                try w.endRow()
            }
        }
        XCTAssertEqual(copied, 3)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT name FROM bulk WHERE id = 2")).decode(String.self, 0), "\\N is not null")

        // A throwing body aborts the COPY: nothing from it is inserted.
        XCTAssertThrowsError(try conn.copyIn(sql: "COPY bulk (id, name) FROM STDIN") { w in
            try w.append(["100", "x"])
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT count(*) FROM bulk")).decode(Int.self, 0), 3)

        // Bad data: the server's error is thrown and the connection stays usable.
        XCTAssertThrowsError(try conn.copyIn(sql: "COPY bulk (id, name) FROM STDIN", rows: [["not-a-number", "x"]])) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "22P02")
        }
        XCTAssertThrowsPostgres(.uniqueViolation, try conn.copyIn(sql: "COPY bulk (id) FROM STDIN", rows: [["1"]]))
        XCTAssertTrue(conn.isHealthy)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT count(*) FROM bulk")).decode(Int.self, 0), 3)
    }
}
