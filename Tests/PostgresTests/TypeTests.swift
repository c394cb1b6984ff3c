import Foundation
import Postgres
import XCTest

final class TypeTests: XCTestCase {
    var conn: Connection!

    override func setUpWithError() throws {
        conn = try TestDB.connect("types")
    }

    override func tearDown() {
        conn = nil
    }

    /// Sends `value` as a parameter cast to `sqlType`, reads it back, and (optionally) checks the
    /// server's own text rendering so the encoding is right, not merely symmetric.
    func roundTrip<T: PostgresEncodable & PostgresDecodable & Equatable>(
        _ value: T, _ sqlType: String, serverText: String? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let row = try XCTUnwrap(conn.queryRow("SELECT $1::\(sqlType), ($1::\(sqlType))::text", value), file: file, line: line)
        XCTAssertEqual(try row.decode(T.self, 0), value, "round trip via \(sqlType)", file: file, line: line)
        if let serverText {
            XCTAssertEqual(try row.decode(String.self, 1), serverText, "server text of \(sqlType)", file: file, line: line)
        }
    }

    func testIntegers() throws {
        try roundTrip(Int.max, "int8", serverText: "9223372036854775807")
        try roundTrip(Int.min, "int8", serverText: "-9223372036854775808")
        try roundTrip(0, "int8", serverText: "0")
        try roundTrip(Int64.min, "int8", serverText: "-9223372036854775808")
        try roundTrip(Int32.max, "int4", serverText: "2147483647")
        try roundTrip(Int32.min, "int4", serverText: "-2147483648")
        try roundTrip(Int16.max, "int2", serverText: "32767")
        try roundTrip(Int16.min, "int2", serverText: "-32768")
        // Int reads int2/int4/int8 columns, and int8 parameters compare with int4 columns.
        let row = try XCTUnwrap(conn.queryRow("SELECT 7::int2, (-8)::int4, 9::int8, 10::numeric, $1::int8 = 5::int4", 5))
        XCTAssertEqual(try row.decode(Int.self, 0), 7)
        XCTAssertEqual(try row.decode(Int.self, 1), -8)
        XCTAssertEqual(try row.decode(Int.self, 2), 9)
        XCTAssertEqual(try row.decode(Int.self, 3), 10)
        XCTAssertEqual(try row.decode(Bool.self, 4), true)
        // Narrowing that does not fit throws.
        XCTAssertThrowsError(try XCTUnwrap(conn.queryRow("SELECT 100000::int4")).decode(Int16.self, 0))
    }

    func testStringsAndUnicode() throws {
        let name = "Nguyễn Văn Đức"
        try roundTrip(name, "text", serverText: name)
        try roundTrip("", "text", serverText: "")
        try roundTrip("tab\tnew\nline 'quote' \"dq\" \\ back", "text")
        try roundTrip("emoji 🇻🇳 ✓", "varchar")
        let row = try XCTUnwrap(conn.queryRow("SELECT upper($1), length($1), octet_length($1), 'abc'::name, 'x'::char(3)", name))
        XCTAssertEqual(try row.decode(String.self, 0), "NGUYỄN VĂN ĐỨC", "C.UTF-8 locale upper()")
        XCTAssertEqual(try row.decode(Int.self, 1), 14)
        XCTAssertEqual(try row.decode(Int.self, 2), name.utf8.count)
        XCTAssertEqual(try row.decode(String.self, 3), "abc")
        XCTAssertEqual(try row.decode(String.self, 4), "x  ")
        // Non-text columns render as strings when asked for String.
        let r2 = try XCTUnwrap(conn.queryRow("SELECT 42::int4, 1.50::numeric, true, '2024-02-29'::date, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"))
        XCTAssertEqual(try r2.decode(String.self, 0), "42")
        XCTAssertEqual(try r2.decode(String.self, 1), "1.50")
        XCTAssertEqual(try r2.decode(String.self, 2), "true")
        XCTAssertEqual(try r2.decode(String.self, 3), "2024-02-29")
        XCTAssertEqual(try r2.decode(String.self, 4), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    }

    func testBoolAndFloats() throws {
        try roundTrip(true, "bool", serverText: "true")
        try roundTrip(false, "bool", serverText: "false")
        try roundTrip(3.141592653589793, "float8", serverText: "3.141592653589793")
        try roundTrip(-0.0, "float8")
        try roundTrip(Double.greatestFiniteMagnitude, "float8")
        try roundTrip(Double.infinity, "float8", serverText: "Infinity")
        try roundTrip(Float(1.5), "float4", serverText: "1.5")
        let nan = try XCTUnwrap(conn.queryRow("SELECT $1::float8", Double.nan)).decode(Double.self, 0)
        XCTAssertTrue(nan.isNaN)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT 2.5::float4")).decode(Double.self, 0), 2.5)
    }

    func testNumeric() throws {
        let twenty = Decimal(string: "12345678901234567890")!
        try roundTrip(twenty, "numeric", serverText: "12345678901234567890")
        try roundTrip(Decimal(string: "-98765432109876543210.123456789")!, "numeric", serverText: "-98765432109876543210.123456789")
        try roundTrip(Decimal(string: "0.00000000000000000001")!, "numeric", serverText: "0.00000000000000000001")
        try roundTrip(Decimal(string: "10000")!, "numeric", serverText: "10000")
        try roundTrip(Decimal(string: "100000000.0001")!, "numeric", serverText: "100000000.0001")
        try roundTrip(Decimal(0), "numeric", serverText: "0")
        try roundTrip(Decimal(string: "-1.5")!, "numeric", serverText: "-1.5")
        // Server-produced values with scale keep their digits.
        let row = try XCTUnwrap(conn.queryRow("SELECT 12345678901234567890.12345::numeric(30,5), 0.10::numeric, sum(x) FROM (VALUES (9223372036854775807::int8), (1::int8)) v(x)"))
        XCTAssertEqual(try row.decode(Decimal.self, 0), Decimal(string: "12345678901234567890.12345")!)
        XCTAssertEqual(try row.decode(String.self, 0), "12345678901234567890.12345")
        XCTAssertEqual(try row.decode(String.self, 1), "0.10")
        XCTAssertEqual(try row.decode(Decimal.self, 2), Decimal(string: "9223372036854775808")!)
        XCTAssertTrue(try XCTUnwrap(conn.queryRow("SELECT 'NaN'::numeric")).decode(Decimal.self, 0).isNaN)
    }

    func testDates() throws {
        try roundTrip(PGDate(year: 1900, month: 1, day: 1)!, "date", serverText: "1900-01-01")
        try roundTrip(PGDate(year: 2099, month: 12, day: 31)!, "date", serverText: "2099-12-31")
        try roundTrip(PGDate(year: 2000, month: 1, day: 1)!, "date", serverText: "2000-01-01")
        try roundTrip(PGDate(year: 2024, month: 2, day: 29)!, "date", serverText: "2024-02-29")
        try roundTrip(PGDate(year: 1, month: 1, day: 1)!, "date", serverText: "0001-01-01")
        XCTAssertNil(PGDate(year: 2023, month: 2, day: 29))
        XCTAssertEqual(PGDate("2025-07-01")?.adding(days: 31).description, "2025-08-01")
        XCTAssertEqual(PGDate(year: 2025, month: 1, day: 1)!.days(to: PGDate(year: 2026, month: 1, day: 1)!), 365)
        let json = try JSONEncoder().encode([PGDate("1975-04-30")!])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), "[\"1975-04-30\"]")
        // Calendar date of an instant in Asia/Ho_Chi_Minh (UTC+7).
        let midnight = 1_700_000_000 - 1_700_000_000 % 86_400
        let instant = Date(timeIntervalSince1970: Double(midnight + 18 * 3600)) // 18:00 UTC
        XCTAssertEqual(PGDate(instant, timeZone: TimeZone(identifier: "Asia/Ho_Chi_Minh")!),
                       PGDate(instant, timeZone: TimeZone(identifier: "UTC")!).adding(days: 1))
    }

    func testTimestamptzMicroseconds() throws {
        // 2024-05-06 07:08:09.123456 UTC
        let micros: Int64 = 768_207_000_000_000 + 123_456
        let date = Date(postgresMicroseconds: micros)
        let row = try XCTUnwrap(conn.queryRow(
            "SELECT $1::timestamptz, to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), $2::timestamptz",
            date, Date(postgresMicroseconds: -3_155_760_000_000_000 + 1)))
        XCTAssertEqual(try row.decode(Date.self, 0).postgresMicroseconds, micros)
        XCTAssertEqual(try row.decode(Date.self, 0), date)
        let expected = PGDate(daysSince2000: Int(micros / 86_400_000_000)).description + " " + {
            let s = Int(micros / 1_000_000 % 86_400)
            return String(format: "%02d:%02d:%02d.%06d", s / 3600, s / 60 % 60, s % 60, Int(micros % 1_000_000))
        }()
        XCTAssertEqual(try row.decode(String.self, 1), expected)
        XCTAssertEqual(try row.decode(Date.self, 2).postgresMicroseconds, -3_155_760_000_000_000 + 1)
        // A server-generated timestamp with microseconds.
        let r2 = try XCTUnwrap(conn.queryRow("SELECT '2025-01-02 03:04:05.000007+07'::timestamptz"))
        XCTAssertEqual(try r2.decode(Date.self, 0).postgresMicroseconds % 1_000_000, 7)
        XCTAssertEqual(try r2.decode(String.self, 0), "2025-01-01T20:04:05.000007Z")
        // Many random instants survive the trip exactly.
        for _ in 0..<200 {
            let m = Int64.random(in: -2_000_000_000_000_000...3_000_000_000_000_000)
            let back = try XCTUnwrap(conn.queryRow("SELECT $1::timestamptz", Date(postgresMicroseconds: m))).decode(Date.self, 0)
            XCTAssertEqual(back.postgresMicroseconds, m)
        }
    }

    func testUUIDByteaJSON() throws {
        let id = UUID()
        try roundTrip(id, "uuid", serverText: id.uuidString.lowercased())
        try roundTrip([UInt8](), "bytea", serverText: "\\x")
        try roundTrip([UInt8]([0, 1, 2, 255, 0x5C]), "bytea", serverText: "\\x000102ff5c")
        try roundTrip(Data([9, 8, 7]), "bytea", serverText: "\\x090807")
        let big = [UInt8]((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try roundTrip(big, "bytea")

        let doc = JSONB("{\"name\": \"Nguyễn Văn Đức\", \"n\": [1, 2]}")
        let row = try XCTUnwrap(conn.queryRow("SELECT $1::jsonb, $1::jsonb ->> 'name', '{\"b\":1}'::json", doc))
        XCTAssertEqual(try row.decode(JSONB.self, 0).string, "{\"n\": [1, 2], \"name\": \"Nguyễn Văn Đức\"}")
        XCTAssertEqual(try row.decode(String.self, 0), "{\"n\": [1, 2], \"name\": \"Nguyễn Văn Đức\"}")
        XCTAssertEqual(try row.decode(String.self, 1), "Nguyễn Văn Đức")
        XCTAssertEqual(try row.decode(JSONB.self, 2).string, "{\"b\":1}")

        struct Settings: Codable, Equatable {
            var name: String
            var limits: [Int]
            var on: Bool?
        }
        let s = Settings(name: "Đức", limits: [1, 2, 3], on: nil)
        let r2 = try XCTUnwrap(conn.queryRow("SELECT $1::jsonb, jsonb_typeof($1::jsonb -> 'limits')", PostgresJSON(s)))
        XCTAssertEqual(try r2.decode(PostgresJSON<Settings>.self, 0).value, s)
        XCTAssertEqual(try r2.decode(String.self, 1), "array")
        XCTAssertEqual(try r2.decode(JSONB.self, 0).decode(Settings.self), s)
    }

    func testArrays() throws {
        try roundTrip([Int.min, 0, Int.max], "int8[]", serverText: "{-9223372036854775808,0,9223372036854775807}")
        try roundTrip([Int](), "int8[]", serverText: "{}")
        try roundTrip(["Nguyễn", "", "a,b", "{x}", "q\"uote", "NULL"], "text[]",
                      serverText: "{Nguyễn,\"\",\"a,b\",\"{x}\",\"q\\\"uote\",\"NULL\"}")
        try roundTrip([String](), "text[]", serverText: "{}")
        let ids = [UUID(), UUID()]
        try roundTrip(ids, "uuid[]", serverText: "{\(ids[0].uuidString.lowercased()),\(ids[1].uuidString.lowercased())}")
        try roundTrip(["a", nil, "c"] as [String?], "text[]", serverText: "{a,NULL,c}")
        try roundTrip([1, nil] as [Int?], "int8[]", serverText: "{1,NULL}")
        try roundTrip([true, false], "bool[]", serverText: "{t,f}")
        try roundTrip([1.5, -2.25], "float8[]", serverText: "{1.5,-2.25}")
        try roundTrip([Decimal(string: "1.25")!, Decimal(string: "-12345678901234567890")!], "numeric[]", serverText: "{1.25,-12345678901234567890}")
        try roundTrip([PGDate("1900-01-01")!, PGDate("2099-12-31")!], "date[]", serverText: "{1900-01-01,2099-12-31}")
        try roundTrip([Int32(1), Int32(-2)], "int4[]", serverText: "{1,-2}")
        try roundTrip([Date(postgresMicroseconds: 1)], "timestamptz[]")
        // Arrays built by the server; int4[] decodes as [Int]; ANY($1) with an array parameter.
        let row = try XCTUnwrap(conn.queryRow(
            "SELECT ARRAY[1,2,3]::int4[], array_agg(x ORDER BY x), 2 = ANY($1) FROM unnest($1) x", [1, 2, 5]))
        XCTAssertEqual(try row.decode([Int].self, 0), [1, 2, 3])
        XCTAssertEqual(try row.decode([Int].self, 1), [1, 2, 5])
        XCTAssertEqual(try row.decode(Bool.self, 2), true)
        // A NULL element into a non-optional element type throws.
        XCTAssertThrowsError(try XCTUnwrap(conn.queryRow("SELECT ARRAY['a', NULL]::text[]")).decode([String].self, 0))
    }

    func testNullsEverywhere() throws {
        try conn.simpleQuery("""
            DROP TABLE IF EXISTS all_types;
            CREATE TABLE all_types (
                id serial PRIMARY KEY, i8 int8, i4 int4, i2 int2, t text, v varchar(20), b bool, f8 float8,
                n numeric, d date, ts timestamptz, u uuid, by bytea, j jsonb, ai int8[], at text[], au uuid[])
            """)
        let insert = "INSERT INTO all_types (i8, i4, i2, t, v, b, f8, n, d, ts, u, by, j, ai, at, au) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING id"
        let now = Date(postgresMicroseconds: Date().postgresMicroseconds)
        let u = UUID()
        let full = try XCTUnwrap(conn.queryRow(insert, parameters: [
            Int.max, Int32(4), Int16(2), "Nguyễn Văn Đức", "v", true, 1.25, Decimal(string: "1.000001")!,
            PGDate("2099-12-31")!, now, u, [UInt8](), JSONB("{}"), [Int.min], ["x"], [u],
        ])).decode(Int.self, 0)
        let nils: [any PostgresEncodable] = [
            Int?.none, Int32?.none, Int16?.none, String?.none, PostgresNull(), Bool?.none, Double?.none, Decimal?.none,
            PGDate?.none, Date?.none, UUID?.none, [UInt8]?.none, JSONB?.none, [Int]?.none, [String]?.none, [UUID]?.none,
        ]
        let empty = try XCTUnwrap(conn.queryRow(insert, parameters: nils)).decode(Int.self, "id")

        let a = try XCTUnwrap(conn.queryRow("SELECT * FROM all_types WHERE id = $1", full))
        XCTAssertEqual(try a.decode(Int?.self, "i8"), Int.max)
        XCTAssertEqual(try a.decode(Int32.self, "i4"), 4)
        XCTAssertEqual(try a.decode(Int16.self, "i2"), 2)
        XCTAssertEqual(try a.decode(String?.self, "t"), "Nguyễn Văn Đức")
        XCTAssertEqual(try a.decode(String.self, "v"), "v")
        XCTAssertEqual(try a.decode(Bool.self, "b"), true)
        XCTAssertEqual(try a.decode(Double.self, "f8"), 1.25)
        XCTAssertEqual(try a.decode(Decimal.self, "n"), Decimal(string: "1.000001")!)
        XCTAssertEqual(try a.decode(PGDate.self, "d"), PGDate("2099-12-31")!)
        XCTAssertEqual(try a.decode(Date.self, "ts"), now)
        XCTAssertEqual(try a.decode(UUID.self, "u"), u)
        XCTAssertEqual(try a.decode([UInt8].self, "by"), [])
        XCTAssertEqual(try a.decode(JSONB.self, "j").string, "{}")
        XCTAssertEqual(try a.decode([Int].self, "ai"), [Int.min])
        XCTAssertEqual(try a.decode([String].self, "at"), ["x"])
        XCTAssertEqual(try a.decode([UUID].self, "au"), [u])

        let b = try XCTUnwrap(conn.queryRow("SELECT * FROM all_types WHERE id = $1", empty))
        for column in 1..<b.columnCount { XCTAssertTrue(b.isNull(column), "column \(column) should be NULL") }
        XCTAssertNil(try b.decode(Int?.self, "i8"))
        XCTAssertNil(try b.decode(String?.self, "t"))
        XCTAssertNil(try b.decode(Decimal?.self, "n"))
        XCTAssertNil(try b.decode(PGDate?.self, "d"))
        XCTAssertNil(try b.decode(Date?.self, "ts"))
        XCTAssertNil(try b.decode(UUID?.self, "u"))
        XCTAssertNil(try b.decode([UInt8]?.self, "by"))
        XCTAssertNil(try b.decode(JSONB?.self, "j"))
        XCTAssertNil(try b.decode([Int]?.self, "ai"))
        XCTAssertNil(try b.decode([String]?.self, "at"))
        XCTAssertNil(try b.decode([UUID]?.self, "au"))
        // The typed NULLs were bound with their types: IS NULL on a typed parameter works.
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1 IS NULL", String?.none)).decode(Bool.self, 0), true)
    }

    func testDecodingErrorsNameTheColumn() throws {
        let row = try XCTUnwrap(conn.queryRow("SELECT NULL::text AS name, 5::int4 AS count"))
        do {
            _ = try row.decode(String.self, "name")
            XCTFail("NULL into String must throw")
        } catch let e as PostgresDecodingError {
            XCTAssertEqual(e.kind, .unexpectedNull)
            XCTAssertEqual(e.column, "name")
            XCTAssertTrue(e.description.contains("\"name\""), e.description)
        }
        do {
            _ = try row.decode(UUID.self, 1)
            XCTFail("int4 into UUID must throw")
        } catch let e as PostgresDecodingError {
            XCTAssertEqual(e.kind, .typeMismatch)
            XCTAssertEqual(e.column, "count")
            XCTAssertEqual(e.postgresType, .int4)
        }
        do {
            _ = try row.decode(Int.self, "missing")
            XCTFail("unknown column must throw")
        } catch let e as PostgresDecodingError {
            XCTAssertEqual(e.kind, .columnNotFound)
            XCTAssertEqual(e.column, "missing")
        }
        XCTAssertThrowsError(try row.decode(Int.self, 7))
        XCTAssertEqual(try row.decode(Int.self, "COUNT"), 5, "unquoted names fold to lower case like SQL")
    }

    func testTextFormatResultsFromSimpleQuery() throws {
        let r = try conn.simpleQuery("""
            SELECT 42::int8, true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '2024-02-29'::date,
                   '2025-01-02 03:04:05.5+07'::timestamptz, 12.50::numeric, '\\x0102'::bytea, 'Đức'::text, 1.5::float8
            """)
        let row = try XCTUnwrap(r.first)
        XCTAssertEqual(try row.decode(Int.self, 0), 42)
        XCTAssertEqual(try row.decode(Bool.self, 1), true)
        XCTAssertEqual(try row.decode(UUID.self, 2), UUID(uuidString: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
        XCTAssertEqual(try row.decode(PGDate.self, 3), PGDate("2024-02-29"))
        XCTAssertEqual(try row.decode(Date.self, 4).postgresMicroseconds,
                       try XCTUnwrap(conn.queryRow("SELECT '2025-01-02 03:04:05.5+07'::timestamptz")).decode(Date.self, 0).postgresMicroseconds)
        XCTAssertEqual(try row.decode(Decimal.self, 5), Decimal(string: "12.50"))
        XCTAssertEqual(try row.decode([UInt8].self, 6), [1, 2])
        XCTAssertEqual(try row.decode(String.self, 7), "Đức")
        XCTAssertEqual(try row.decode(Double.self, 8), 1.5)
    }

    func testResultIterationAndRowsAffected() throws {
        try conn.simpleQuery("DROP TABLE IF EXISTS items; CREATE TABLE items (id int PRIMARY KEY, name text)")
        for i in 1...5 { try conn.execute("INSERT INTO items VALUES ($1, $2)", i, "n\(i)") }
        let result = try conn.query("SELECT id, name FROM items WHERE id >= $1 ORDER BY id", 2)
        XCTAssertEqual(result.count, 4)
        XCTAssertEqual(try result.map { try $0.decode(Int.self, "id") }, [2, 3, 4, 5])
        XCTAssertEqual(result.columnNames, ["id", "name"])
        XCTAssertEqual(try conn.execute("UPDATE items SET name = name || '!' WHERE id <= $1", 3), 3)
        XCTAssertEqual(try conn.execute("DELETE FROM items WHERE id = $1", 99), 0)
        let returning = try conn.query("INSERT INTO items VALUES ($1, $2) RETURNING id, name", 6, PostgresUntyped("six"))
        XCTAssertEqual(returning.rowsAffected, 1)
        XCTAssertEqual(try returning[0].decode(String.self, 1), "six")
    }
}

/// Text-format parameters are read by libpq as C strings: several in one statement must not run
/// into each other.
final class UntypedParameterTests: XCTestCase {
    func testUntypedTextParametersAreTerminated() throws {
        let db = try Connection(try TestDatabase.url())
        let row = try XCTUnwrap(try db.queryRow("SELECT $1::timestamptz, $2::date, $3::uuid",
            PostgresUntyped("2026-11-23T13:12:18.123456Z"), PostgresUntyped("2026-11-23"), UUID()))
        XCTAssertEqual(Timestamp(try row.decode(Date.self, 0)), Timestamp(Date(timeIntervalSince1970: 1_795_439_538.123456)))
        XCTAssertEqual(try row.decode(PGDate.self, 1).description, "2026-11-23")
    }

    private struct Timestamp: Equatable {
        let micros: Int64
        init(_ d: Date) { micros = Int64((d.timeIntervalSince1970 * 1_000_000).rounded()) }
    }
}
