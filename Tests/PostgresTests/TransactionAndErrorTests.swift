import Foundation
import Postgres
import XCTest

struct Boom: Error {}

final class TransactionAndErrorTests: XCTestCase {
    var conn: Connection!

    override func setUpWithError() throws {
        conn = try TestDB.connect("txerr")
        try conn.simpleQuery("""
            DROP TABLE IF EXISTS child, parent, accounts;
            CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE NOT NULL, qty int CONSTRAINT qty_positive CHECK (qty > 0));
            CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL CONSTRAINT child_parent_fk REFERENCES parent(id));
            CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
            INSERT INTO parent VALUES (1, 'a', 1);
            INSERT INTO accounts VALUES (1, 100), (2, 100);
            """)
    }

    override func tearDown() { conn = nil }

    func count(_ table: String) throws -> Int {
        try XCTUnwrap(conn.queryRow("SELECT count(*) FROM \(table)")).decode(Int.self, 0)
    }

    func testCommitAndRollbackOnThrownError() throws {
        let value = try conn.transaction { c -> Int in
            try c.execute("INSERT INTO parent VALUES ($1, $2, $3)", 2, "b", 1)
            return 42
        }
        XCTAssertEqual(value, 42)
        XCTAssertEqual(try count("parent"), 2)

        XCTAssertThrowsError(try conn.transaction { c in
            try c.execute("INSERT INTO parent VALUES ($1, $2, $3)", 3, "c", 1)
            XCTAssertTrue(c.inTransaction)
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try count("parent"), 2, "insert rolled back")
        XCTAssertFalse(conn.inTransaction)

        // A SQL error inside rolls back the earlier statements too and is rethrown typed.
        XCTAssertThrowsPostgres(.uniqueViolation, try conn.transaction { c in
            try c.execute("INSERT INTO parent VALUES ($1, $2, $3)", 4, "d", 1)
            try c.execute("INSERT INTO parent VALUES ($1, $2, $3)", 5, "d", 1)
        })
        XCTAssertEqual(try count("parent"), 2)
        XCTAssertTrue(conn.isHealthy)
    }

    func testSwallowedErrorMakesCommitFail() throws {
        XCTAssertThrowsPostgres(.transactionAborted, try conn.transaction { c in
            try c.execute("INSERT INTO parent VALUES ($1, $2, $3)", 6, "f", 1)
            _ = try? c.execute("INSERT INTO parent VALUES ($1, $2, $3)", 1, "dup", 1)
        })
        XCTAssertEqual(try count("parent"), 1)
    }

    func testNestedTransactionUsesSavepoint() throws {
        try conn.transaction(isolation: .repeatableRead) { c in
            try c.execute("INSERT INTO parent VALUES (10, 'x', 1)")
            XCTAssertThrowsError(try c.transaction { c2 in
                try c2.execute("INSERT INTO parent VALUES (11, 'y', 1)")
                throw Boom()
            })
            try c.execute("INSERT INTO parent VALUES (12, 'z', 1)")
        }
        let ids = try conn.query("SELECT id FROM parent ORDER BY id").map { try $0.decode(Int.self, 0) }
        XCTAssertEqual(ids, [1, 10, 12])
    }

    func testResetSessionRollsBackLeftOpenTransaction() throws {
        try conn.simpleQuery("BEGIN")
        try conn.execute("INSERT INTO parent VALUES (20, 'open', 1)")
        XCTAssertFalse(conn.isHealthy)
        conn.resetSession()
        XCTAssertTrue(conn.isHealthy)
        XCTAssertEqual(try count("parent"), 1)
        XCTAssertTrue(conn.ping())
    }

    func testConstraintErrorsAreMapped() throws {
        XCTAssertThrowsPostgres(.uniqueViolation, try conn.execute("INSERT INTO parent VALUES (2, 'a', 1)")) { e in
            XCTAssertEqual(e.sqlState, "23505")
            XCTAssertEqual(e.constraint, "parent_code_key")
            XCTAssertEqual(e.table, "parent")
            XCTAssertNotNil(e.detail)
        }
        XCTAssertThrowsPostgres(.foreignKeyViolation, try conn.execute("INSERT INTO child VALUES ($1, $2)", 1, 999)) { e in
            XCTAssertEqual(e.sqlState, "23503")
            XCTAssertEqual(e.constraint, "child_parent_fk")
        }
        XCTAssertThrowsPostgres(.notNullViolation, try conn.execute("INSERT INTO child VALUES ($1, $2)", 1, Int?.none)) { e in
            XCTAssertEqual(e.sqlState, "23502")
            XCTAssertEqual(e.column, "parent_id")
        }
        XCTAssertThrowsPostgres(.checkViolation, try conn.execute("INSERT INTO parent VALUES (3, 'q', $1)", 0)) { e in
            XCTAssertEqual(e.sqlState, "23514")
            XCTAssertEqual(e.constraint, "qty_positive")
        }
        XCTAssertThrowsPostgres(.other, try conn.execute("SELECT * FROM no_such_table")) { e in
            XCTAssertEqual(e.sqlState, "42P01")
        }
        XCTAssertTrue(conn.isHealthy, "errors outside a transaction leave the connection usable")
    }

    func testStatementTimeoutIsQueryCanceled() throws {
        let short = try TestDB.connect("txerr", statementTimeoutMilliseconds: 200)
        let start = monotonicSeconds()
        XCTAssertThrowsPostgres(.queryCanceled, try short.query("SELECT pg_sleep(3)")) { e in
            XCTAssertEqual(e.sqlState, "57014")
        }
        XCTAssertLessThan(monotonicSeconds() - start, 2.0)
        XCTAssertEqual(try XCTUnwrap(short.queryRow("SHOW statement_timeout")).decode(String.self, 0), "200ms")
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SHOW statement_timeout")).decode(String.self, 0), "5s", "default 5000 ms")
        try short.setStatementTimeout(milliseconds: 0)
        XCTAssertEqual(try XCTUnwrap(short.queryRow("SHOW statement_timeout")).decode(String.self, 0), "0")
        short.resetSession()
        XCTAssertEqual(try XCTUnwrap(short.queryRow("SHOW statement_timeout")).decode(String.self, 0), "200ms")
    }

    /// Two SERIALIZABLE transactions each read both rows and write one: a write-skew that
    /// PostgreSQL must refuse with 40001 for one of them.
    func makeWriteSkew(_ a: Connection, _ b: Connection, retryB: Bool) throws -> (Result<Void, Error>, attemptsOfB: Int) {
        try a.simpleQuery("BEGIN ISOLATION LEVEL SERIALIZABLE")
        _ = try a.query("SELECT sum(balance) FROM accounts")
        var attempts = 0
        let bBody = { (c: Connection) throws in
            attempts += 1
            _ = try c.query("SELECT sum(balance) FROM accounts")
            try c.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 2")
            if attempts == 1 {
                // First attempt: let A write and commit in between, creating the conflict.
                try a.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
                try a.simpleQuery("COMMIT")
            }
        }
        let result: Result<Void, Error>
        if retryB {
            result = Result { try b.withSerializableRetry(maxAttempts: 5, bBody) }
        } else {
            result = Result { try b.transaction(isolation: .serializable, bBody) }
        }
        return (result, attempts)
    }

    func testSerializationFailureAndRetry() throws {
        let a = try TestDB.connect("txerr")
        let b = try TestDB.connect("txerr")
        let (failed, _) = try makeWriteSkew(a, b, retryB: false)
        XCTAssertThrowsPostgres(.serializationFailure, try failed.get()) { e in
            XCTAssertEqual(e.sqlState, "40001")
            XCTAssertTrue(e.isRetryableTransactionFailure)
        }
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT balance FROM accounts WHERE id = 2")).decode(Int.self, 0), 100)

        try conn.execute("UPDATE accounts SET balance = 100")
        let (retried, attempts) = try makeWriteSkew(a, b, retryB: true)
        XCTAssertNoThrow(try retried.get())
        XCTAssertEqual(attempts, 2, "first attempt failed with 40001, second succeeded")
        let balances = try conn.query("SELECT balance FROM accounts ORDER BY id").map { try $0.decode(Int.self, 0) }
        XCTAssertEqual(balances, [90, 90])
    }

    func testDeadlockIsMappedAndRetried() throws {
        let url = try TestDB.url(for: "txerr")
        // Two threads lock rows 1 and 2 in opposite orders; one of them gets 40P01, and with the
        // retry helper both complete.
        let barrier = DispatchSemaphore(value: 0)
        let other = DispatchSemaphore(value: 0)
        let attemptsBox = ThreadResult<Int>()
        let t = onThread { () -> Int in
            let c = try Connection(url)
            var attempts = 0
            try c.withSerializableRetry(maxAttempts: 5, isolation: .readCommitted) { c in
                attempts += 1
                try c.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
                if attempts == 1 { barrier.signal(); other.wait() }
                try c.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
            }
            return attempts
        }
        _ = attemptsBox
        let c = try Connection(url)
        var mine = 0
        try c.withSerializableRetry(maxAttempts: 5, isolation: .readCommitted) { c in
            mine += 1
            try c.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
            if mine == 1 {
                barrier.wait()
                other.signal()
                usleep(50_000)
            }
            try c.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
        }
        let theirs = try t.wait()
        XCTAssertEqual(mine + theirs, 3, "exactly one side was chosen as deadlock victim and rerun")
        let balances = try conn.query("SELECT balance FROM accounts ORDER BY id").map { try $0.decode(Int.self, 0) }
        XCTAssertEqual(balances, [102, 102])
    }

    func testDeadlockKindMapping() {
        XCTAssertEqual(PostgresError.kind(forSQLState: "40P01"), .deadlockDetected)
        XCTAssertEqual(PostgresError.kind(forSQLState: "08006"), .connectionUnavailable)
        XCTAssertEqual(PostgresError.kind(forSQLState: "57P01"), .connectionUnavailable)
        XCTAssertEqual(PostgresError.kind(forSQLState: "22P02"), .other)
        XCTAssertEqual(PostgresError.kind(forSQLState: "08P01"), .other)
    }

    func testWrongParameterCountIsNotAnOutage() throws {
        XCTAssertThrowsPostgres(.other, try conn.query("SELECT $1::int + $2::int", 1)) { e in
            XCTAssertEqual(e.sqlState, "08P01")
        }
        XCTAssertTrue(conn.isHealthy)
        XCTAssertEqual(try XCTUnwrap(conn.queryRow("SELECT $1::int + $2::int", 1, 2)).decode(Int.self, 0), 3)
    }
}
