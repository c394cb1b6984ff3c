import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// `Idempotency-Key` on POST: replay, reuse with another request (422), in progress (409), expiry
/// after 24 h, release after a 5xx, no secret stored, and concurrent duplicates running once.
final class IdempotencyTests: XCTestCase {
    var t: TestApp!
    var f: AccessFixture!

    override func setUpWithError() throws {
        t = try TestApp { $0.server.workerCount = 6 }
        f = try AccessFixture(t)
    }

    override func tearDown() { t?.stop() }

    var rootAccount: UUID {
        get throws { try XCTUnwrap(f.db.queryRow("SELECT id FROM accounts WHERE name = 'root admin'")).decode(UUID.self, 0) }
    }

    func accounts(named name: String) throws -> Int {
        try f.count("SELECT count(*)::int FROM accounts WHERE name = $1", name)
    }

    func testReplayReuseAndScope() throws {
        let body: [String: Any] = ["org_id": f.p, "role": "officer", "name": "Một lần"]
        let first = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertNil(first.headers["idempotent-replayed"])

        let replay = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(replay.status, 201)
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertEqual(replay.body, first.body)
        XCTAssertEqual(replay.headers["location"], first.headers["location"])
        XCTAssertEqual(replay.headers["etag"], first.headers["etag"])
        XCTAssertEqual(replay.headers["content-type"], first.headers["content-type"])
        XCTAssertNotEqual(replay.headers["x-request-id"], first.headers["x-request-id"])
        XCTAssertEqual(try accounts(named: "Một lần"), 1)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM events WHERE type = 'account.created' AND data->>'role' = 'officer'"), 1)

        // Same key, another body, path or query: 422, nothing runs.
        var other = body
        other["name"] = "Hai lần"
        let reusedBody = try f.call(f.rootAdmin, "POST", "/v1/accounts", other, headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(reusedBody.status, 422)
        XCTAssertEqual(reusedBody.problemCode, "idempotency_key_reused")
        XCTAssertEqual(try accounts(named: "Hai lần"), 0)
        let reusedPath = try f.call(f.rootAdmin, "POST", "/v1/tokens", ["name": "x"], headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(reusedPath.status, 422)
        XCTAssertEqual(reusedPath.problemCode, "idempotency_key_reused")
        XCTAssertEqual(try f.call(f.rootAdmin, "POST", "/v1/accounts?x=1", body, headers: ["Idempotency-Key": "k-1"]).status, 422)

        // Without a key every POST runs.
        XCTAssertEqual(try f.call(f.rootAdmin, "POST", "/v1/accounts", other).status, 201)
        XCTAssertEqual(try f.call(f.rootAdmin, "POST", "/v1/accounts", other).status, 201)
        XCTAssertEqual(try accounts(named: "Hai lần"), 2)

        // Keys belong to the calling account: another account's same key is its own.
        let pAdmin = try f.principal(f.p, "admin", "Quản trị P")
        let theirs = try f.call(pAdmin.token, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(theirs.status, 201, theirs.text)
        XCTAssertNil(theirs.headers["idempotent-replayed"])
        XCTAssertEqual(try accounts(named: "Một lần"), 2)

        // Problems below 500 are stored and replayed too.
        let invalid = try f.call(f.rootAdmin, "POST", "/v1/accounts", ["role": "boss"], headers: ["Idempotency-Key": "k-bad"])
        XCTAssertEqual(invalid.status, 422)
        XCTAssertEqual(invalid.problemCode, "validation_failed")
        let invalidAgain = try f.call(f.rootAdmin, "POST", "/v1/accounts", ["role": "boss"], headers: ["Idempotency-Key": "k-bad"])
        XCTAssertEqual(invalidAgain.status, 422)
        XCTAssertEqual(invalidAgain.headers["idempotent-replayed"], "true")
        XCTAssertEqual(invalidAgain.body, invalid.body)

        // Malformed keys are refused; other methods ignore the header.
        let long = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": String(repeating: "k", count: 256)])
        XCTAssertEqual(long.status, 400)
        XCTAssertEqual(long.problemCode, "invalid_idempotency_key")
        // Outside printable ASCII (sent here as UTF-8; a raw 0x85 byte is the same case).
        XCTAssertEqual(try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "khóa-1"]).problemCode,
                       "invalid_idempotency_key")
        XCTAssertEqual(try f.call(f.rootAdmin, "POST", "/v1/accounts", other,
                                  headers: ["Idempotency-Key": String(repeating: "k", count: 255)]).status, 201)
        XCTAssertEqual(try f.call(f.rootAdmin, "GET", "/v1/me", headers: ["Idempotency-Key": "k-get"]).status, 200)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM idempotency_keys WHERE key = 'k-get'"), 0)
    }

    func testRunningKeyAnswers409() throws {
        let body: [String: Any] = ["org_id": f.p, "role": "viewer", "name": "Đang chạy"]
        let bytes = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        // The fingerprint is SHA-256 of (query string, NUL, body); this request has no query.
        try f.db.execute("""
            INSERT INTO idempotency_keys (account_id, key, method, path, request_hash, state)
            VALUES ($1, 'busy', 'POST', '/v1/accounts', sha256('\\x00'::bytea || $2), 'running')
            """, try rootAccount, bytes)
        let r = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "busy"])
        XCTAssertEqual(r.status, 409, r.text)
        XCTAssertEqual(r.problemCode, "idempotency_in_progress")
        XCTAssertEqual(r.headers["retry-after"], "1")
        XCTAssertEqual(try accounts(named: "Đang chạy"), 0)
        // A different body under a running key is a misuse, reported as such.
        let misuse = try f.call(f.rootAdmin, "POST", "/v1/accounts", ["org_id": f.p, "role": "viewer", "name": "Khác"],
                                headers: ["Idempotency-Key": "busy"])
        XCTAssertEqual(misuse.status, 422)

        // Once the first finishes (here: its row is gone, as after a crash cleanup), the key runs.
        try f.db.execute("DELETE FROM idempotency_keys WHERE key = 'busy'")
        XCTAssertEqual(try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "busy"]).status, 201)
        XCTAssertEqual(try accounts(named: "Đang chạy"), 1)
    }

    func testRowsOlderThan24HoursAreIgnoredAndOverwritten() throws {
        try f.db.execute("""
            INSERT INTO idempotency_keys (account_id, key, method, path, request_hash, state, response_status, response_headers,
                                          response_body, created_at)
            VALUES ($1, 'old', 'POST', '/v1/somewhere-else', '\\x00'::bytea, 'done', 418, '{}'::jsonb, '\\x7b7d'::bytea,
                    now() - interval '25 hours')
            """, try rootAccount)
        let body: [String: Any] = ["org_id": f.p, "role": "viewer", "name": "Sau 24 giờ"]
        let r = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "old"])
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertNil(r.headers["idempotent-replayed"])
        let row = try XCTUnwrap(f.db.queryRow(
            "SELECT path, state, response_status, created_at > now() - interval '1 minute' FROM idempotency_keys WHERE key = 'old'"))
        XCTAssertEqual(try row.decode(String.self, 0), "/v1/accounts")
        XCTAssertEqual(try row.decode(String.self, 1), "done")
        XCTAssertEqual(try row.decode(Int.self, 2), 201)
        XCTAssertTrue(try row.decode(Bool.self, 3))
        let replay = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "old"])
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertEqual(try accounts(named: "Sau 24 giờ"), 1)
    }

    /// A 5xx (here a statement timeout while a row the handler needs is locked) releases the key:
    /// nothing is stored, and the retry with the same key runs.
    func testServerErrorReleasesTheKey() throws {
        t.stop()
        t = try TestApp { options in
            options.database.statementTimeoutMilliseconds = 300
        }
        f = try AccessFixture(t)
        let locker = try Connection(t.databaseURL)
        try locker.simpleQuery("BEGIN")
        try locker.execute("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE", UUID(uuidString: f.q)!)
        let body: [String: Any] = ["org_id": f.q, "role": "viewer", "name": "Sau lỗi"]
        let failed = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "retry-me"])
        XCTAssertEqual(failed.status, 503, failed.text)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM idempotency_keys WHERE key = 'retry-me'"), 0)
        try locker.simpleQuery("ROLLBACK")

        let retried = try f.call(f.rootAdmin, "POST", "/v1/accounts", body, headers: ["Idempotency-Key": "retry-me"])
        XCTAssertEqual(retried.status, 201, retried.text)
        XCTAssertNil(retried.headers["idempotent-replayed"])
        XCTAssertEqual(try accounts(named: "Sau lỗi"), 1)
    }

    func testTokenReplayNeverShowsOrStoresTheSecret() throws {
        let first = try f.call(f.rootAdmin, "POST", "/v1/tokens", ["name": "script"], headers: ["Idempotency-Key": "tok"])
        XCTAssertEqual(first.status, 201, first.text)
        let secret = try XCTUnwrap(first.json()["token"] as? String)
        let id = try XCTUnwrap(first.json()["id"] as? String)

        let replay = try f.call(f.rootAdmin, "POST", "/v1/tokens", ["name": "script"], headers: ["Idempotency-Key": "tok"])
        XCTAssertEqual(replay.status, 201)
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertEqual(replay.headers["location"], "/v1/tokens/\(id)")
        XCTAssertEqual(try replay.json()["id"] as? String, id)
        XCTAssertNil(try replay.json()["token"])
        XCTAssertFalse(replay.text.contains(secret))
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM tokens WHERE name = 'script'"), 1)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM idempotency_keys WHERE position(convert_to($1, 'UTF8') IN response_body) > 0",
                                   secret), 0)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM idempotency_keys WHERE key = 'tok' AND state = 'done'"), 1)
    }

    /// Several threads fire the same POST with the same key at once: exactly one runs it; the others
    /// get 409 (still running) or the replay.
    func testConcurrentDuplicatesCreateExactlyOneRow() throws {
        let port = t.port
        let token = f.rootAdmin
        for round in 0..<5 {
            let name = "Đồng thời \(round)"
            let body = Array(try JSONSerialization.data(withJSONObject: ["org_id": f.p, "role": "officer", "name": name]))
            let headers = ["Authorization": "Bearer \(token)", "Content-Type": "application/json", "Idempotency-Key": "same-\(round)"]
            let results = Results()
            let threads = 8
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            for _ in 0..<threads {
                done.enter()
                Thread.detachNewThread {
                    start.wait()
                    let r = try? TestHTTP.request(port: port, method: "POST", path: "/v1/accounts", headers: headers, body: body)
                    results.add(r.map { ($0.status, $0.headers["idempotent-replayed"] == "true") } ?? (0, false))
                    done.leave()
                }
            }
            for _ in 0..<threads { start.signal() }
            XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
            let all = results.all
            XCTAssertEqual(all.count, threads)
            XCTAssertTrue(all.allSatisfy { $0.status == 201 || $0.status == 409 }, "\(all)")
            XCTAssertEqual(all.filter { $0.status == 201 && !$0.replayed }.count, 1, "\(all)")
            XCTAssertEqual(try accounts(named: name), 1)
            XCTAssertEqual(try f.count("SELECT count(*)::int FROM idempotency_keys WHERE key = $1", "same-\(round)"), 1)
        }
    }
}

private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(status: Int, replayed: Bool)] = []
    func add(_ r: (Int, Bool)) { lock.lock(); items.append(r); lock.unlock() }
    var all: [(status: Int, replayed: Bool)] { lock.lock(); defer { lock.unlock() }; return items }
}
