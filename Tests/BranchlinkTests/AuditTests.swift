@testable import Branchlink
import Crypto
import Foundation
import Postgres
import Synchronization
import XCTest

/// The audit chain: one record per successful write in the write's transaction, hash-chained,
/// append-only for the application's role, scoped when listed, personal values withheld, and
/// tampering by a superuser found by /v1/audit/verify.
final class AuditTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture() }
    override func tearDown() { f.stop() }

    // MARK: Pure rules

    /// The canonical form and hash of a fixed record, computed independently (Python hashlib with
    /// the rules in the openapi description), so that the form cannot drift silently.
    func testCanonicalFormAndHashAreFixed() {
        let r = AuditRecord(
            sequence: 7, atMicros: 1_795_000_000_123_456, accountID: UUID(uuidString: "11111111-2222-4333-8444-555555555555"),
            accountOrgID: nil, orgID: UUID(uuidString: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"), delegationID: nil,
            action: "POST /v1/introductions/{id}/receive", status: 200, entityType: "introduction",
            entityID: UUID(uuidString: "99999999-8888-4777-8666-555555555555"),
            fields: ["status": "received", "note": String?.none, "Tên đ": "a=b,c"], requestID: "req 1",
            bodySHA256: Array(SHA256.hash(data: Array("{}".utf8))), prevHash: AuditRecord.genesis, hash: [])
        XCTAssertEqual(r.canonical.split(separator: "\n", omittingEmptySubsequences: false).count, 15)
        XCTAssertTrue(r.canonical.contains("\nfields=T%C3%AAn%20%C4%91=a%3Db%2Cc,note,status=received\n"))
        XCTAssertEqual(AuditRecord.hex(r.computedHash), "62c2507baf40a94051c4040dd009e66f7ca40dec23735c5faaf4fdac0a4db253")
        var changed = r
        changed.fields["note"] = "x"
        XCTAssertNotEqual(changed.computedHash, r.computedHash)
    }

    /// audit_head() takes the lock AuditChain documents (another writer of the chain must use it).
    func testHeadFunctionLocksTheDocumentedKey() throws {
        let source = try XCTUnwrap(try f.db.queryRow("SELECT prosrc FROM pg_proc WHERE proname = 'audit_head'")?.decode(String.self, 0))
        XCTAssertTrue(source.contains("pg_advisory_xact_lock(\(AuditChain.lockKey))"))
    }

    // MARK: Over HTTP

    func records(_ who: String, _ query: String = "") throws -> [[String: Any]] {
        let r = try f.call(who, "GET", "/v1/audit?limit=500" + query)
        XCTAssertEqual(r.status, 200, r.text)
        return try XCTUnwrap(r.json()["items"] as? [[String: Any]])
    }

    func verify(_ query: String = "") throws -> [String: Any] {
        let r = try f.call("admin", "GET", "/v1/audit/verify" + query)
        XCTAssertEqual(r.status, 200, r.text)
        return try r.json()
    }

    func introduce(_ member: Int, as who: String = "workplace") throws -> String {
        let r = try f.call(who, "POST", "/v1/introductions", ["member_id": f.members[member], "commune_id": f.orgs["C1"]!])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    func testEveryWriteAppendsOneChainedRecordAndRefusedWritesNone() throws {
        let id = try introduce(0)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        // Refused (403) and invalid (422) writes leave no record; nor does a replay.
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/introductions/\(id)/receive", [:]).status, 403)
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/introductions", ["member_id": "nope"]).status, 422)
        let key = ["Idempotency-Key": "audit-1"]
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/tokens", ["name": "t1"], headers: key).status, 201)
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/tokens", ["name": "t1"], headers: key).headers["idempotent-replayed"], "true")

        let items = try records("admin")
        XCTAssertEqual(items.map { $0["action"] as? String },
                       ["POST /v1/introductions", "POST /v1/introductions/{id}/receive", "POST /v1/tokens"])
        XCTAssertEqual(items.map { $0["sequence"] as? Int }, [1, 2, 3])
        let receive = items[1]
        XCTAssertEqual((receive["entity"] as? [String: Any])?["type"] as? String, "introduction")
        XCTAssertEqual((receive["entity"] as? [String: Any])?["id"] as? String, id)
        XCTAssertEqual((receive["fields"] as? [String: Any])?["status"] as? String, "received")
        XCTAssertEqual((items[0]["entity"] as? [String: Any])?["id"] as? String, id, "a creation names the created id")
        XCTAssertEqual(items[1]["org_id"] as? String, f.orgs["C1"])
        XCTAssertEqual(items[1]["body_sha256"] as? String, AuditRecord.hex(Array(SHA256.hash(data: Array("{}".utf8)))))
        XCTAssertEqual(items[0]["prev_hash"] as? String, String(repeating: "0", count: 64))
        for i in 1..<items.count { XCTAssertEqual(items[i]["prev_hash"] as? String, items[i - 1]["hash"] as? String) }
        // A client can recompute every hash from the JSON alone.
        for item in items { XCTAssertEqual(try record(item).computedHash, try record(item).hash) }
        let v = try verify()
        XCTAssertEqual(v["intact"] as? Bool, true)
        XCTAssertEqual(v["checked"] as? Int, 3)
        XCTAssertEqual((v["last"] as? [String: Any])?["hash"] as? String, items[2]["hash"] as? String)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/audit/verify").status, 403, "verify is for admins")
    }

    /// An `AuditRecord` from its JSON form, to recompute its hash as a client could.
    func record(_ j: [String: Any]) throws -> AuditRecord {
        func id(_ v: Any?) -> UUID? { (v as? String).flatMap(UUID.init(uuidString:)) }
        func bytes(_ key: String) throws -> [UInt8] {
            let hex = Array(try XCTUnwrap(j[key] as? String).utf8)
            return stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        }
        // `at` has microseconds, more than ISO8601DateFormatter keeps: whole seconds + the digits.
        let atText = try XCTUnwrap(j["at"] as? String)
        let parts = atText.dropLast().split(separator: ".")
        let seconds = try XCTUnwrap(Timestamp.parse(String(parts[0]) + "Z")).timeIntervalSince1970
        let atMicros = Int64(seconds) * 1_000_000 + Int64(try XCTUnwrap(Int(parts[1])))
        let entity = j["entity"] as? [String: Any]
        var fields: [String: String?] = [:]
        for (k, v) in (j["fields"] as? [String: Any]) ?? [:] { fields[k] = .some(v as? String) }
        return AuditRecord(
            sequence: Int64(try XCTUnwrap(j["sequence"] as? Int)), atMicros: atMicros,
            accountID: id(j["account_id"]), accountOrgID: id(j["account_org_id"]), orgID: id(j["org_id"]),
            delegationID: id((j["acting_for"] as? [String: Any])?["delegation_id"]), action: try XCTUnwrap(j["action"] as? String),
            status: try XCTUnwrap(j["status"] as? Int), entityType: entity?["type"] as? String, entityID: id(entity?["id"]), fields: fields,
            requestID: j["request_id"] as? String, bodySHA256: try bytes("body_sha256"), prevHash: try bytes("prev_hash"), hash: try bytes("hash"))
    }

    /// "<sequence> <reason>" of the first broken record.
    func broken(_ v: [String: Any]) -> String? {
        guard let b = v["first_broken"] as? [String: Any], let s = b["sequence"] as? Int, let r = b["reason"] as? String else { return nil }
        return "\(s) \(r)"
    }

    /// Concurrent writers each link to the record committed before them: gapless and intact.
    func testConcurrentWritesKeepTheChainIntact() throws {
        let tokens = f.tokens
        let port = f.t.port
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<5 {
                let body = Array("{\"name\":\"w\(worker)-\(i)\"}".utf8)
                let r = try? TestHTTP.request(port: port, method: "POST", path: "/v1/tokens",
                                              headers: ["Authorization": "Bearer \(tokens["workplace"]!)", "Content-Type": "application/json"],
                                              body: body)
                statuses.withLock { $0.append(r?.status ?? 0) }
            }
        }
        XCTAssertEqual(statuses.withLock { $0 }, Array(repeating: 201, count: 40))
        let v = try verify()
        XCTAssertEqual(v["intact"] as? Bool, true)
        XCTAssertEqual(v["checked"] as? Int, 40)
    }

    func testTamperingBySuperuserIsNamedByVerify() throws {
        let id = try introduce(0)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        _ = try introduce(1)
        _ = try introduce(2)
        XCTAssertEqual(try verify()["intact"] as? Bool, true)

        // The owner's session cannot change a record while the trigger is on…
        XCTAssertThrowsError(try f.db.execute("UPDATE audit_records SET status = 201 WHERE sequence = 2"))
        // …a superuser who switches triggers off can, and verify names exactly that record.
        _ = try f.db.simpleQuery("SET session_replication_role = replica")
        defer { _ = try? f.db.simpleQuery("SET session_replication_role = origin") }
        XCTAssertEqual(try f.db.execute("UPDATE audit_records SET status = 201 WHERE sequence = 2"), 1)
        var v = try verify()
        XCTAssertEqual(v["intact"] as? Bool, false)
        XCTAssertEqual(broken(v), "2 hash_mismatch")
        XCTAssertEqual(v["checked"] as? Int, 1)
        // A range after the tampered record is intact on its own.
        XCTAssertEqual(try verify("?from=3")["intact"] as? Bool, true)

        // Re-hashing the changed record correctly moves the break to the next link.
        let tampered = try record(try XCTUnwrap(try records("admin").first { $0["sequence"] as? Int == 2 }))
        XCTAssertEqual(tampered.status, 201)
        XCTAssertNotEqual(tampered.computedHash, tampered.hash)
        try f.db.execute("UPDATE audit_records SET hash = $1 WHERE sequence = 2", tampered.computedHash)
        v = try verify()
        XCTAssertEqual(broken(v), "3 prev_hash_mismatch")

        // A deleted record is named as missing.
        try f.db.execute("DELETE FROM audit_records WHERE sequence IN (2, 3)")
        v = try verify()
        XCTAssertEqual(broken(v), "2 missing")
    }

    func testApplicationRoleCannotUpdateDeleteOrDisableTheTrigger() throws {
        _ = try introduce(0)
        let app = try Connection(AppRole.connectionString(f.t.databaseURL))
        XCTAssertEqual(try app.queryRow("SELECT current_user")?.decode(String.self, 0), AppRole.name)
        XCTAssertEqual(try app.queryRow("SELECT count(*) FROM audit_records")?.decode(Int.self, 0), 1, "it may read")
        for sql in ["UPDATE audit_records SET status = 201", "DELETE FROM audit_records", "TRUNCATE audit_records",
                    "ALTER TABLE audit_records DISABLE TRIGGER audit_records_no_change", "SET session_replication_role = replica",
                    "UPDATE schema_migrations SET name = 'x'"] {
            XCTAssertThrowsError(try app.simpleQuery(sql), sql) { error in
                XCTAssertEqual((error as? PostgresError)?.sqlState, "42501", "\(sql): \(error)")  // insufficient_privilege
            }
        }
        XCTAssertFalse(try AppRole.canAlterAudit(app))
        XCTAssertTrue(try AppRole.canAlterAudit(f.db), "the owner could (the trigger still stops it unless disabled)")
        XCTAssertEqual(try verify()["intact"] as? Bool, true)
    }

    func testListIsScopedAndFiltered() throws {
        let id = try introduce(0)  // workplace W1 → acts for W1
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)  // C1
        XCTAssertEqual(try f.call("other_workplace", "POST", "/v1/tokens", ["name": "w2"]).status, 201)  // W2

        let workplace = try records("workplace")
        XCTAssertEqual(workplace.map { $0["org_id"] as? String }, [f.orgs["W1"]])
        XCTAssertEqual(try records("commune").map { $0["org_id"] as? String }, [f.orgs["C1"]])
        XCTAssertEqual(try records("other_commune").count, 0)
        XCTAssertEqual(try records("viewer").count, 3, "the province sees its whole subtree")
        XCTAssertEqual(try records("viewer", "&entity_id=\(id)").count, 2)
        XCTAssertEqual(try records("viewer", "&entity_type=token").count, 1)
        XCTAssertEqual(try records("viewer", "&action=POST%20/v1/introductions/%7Bid%7D/receive").count, 1)
        let accountID = try XCTUnwrap(workplace.first?["account_id"] as? String)
        XCTAssertEqual(try records("viewer", "&account_id=\(accountID)").count, 1)
        XCTAssertEqual(try records("viewer", "&from=2999-01-01T00:00:00Z").count, 0)
        XCTAssertEqual(try records("viewer", "&to=2999-01-01T00:00:00Z").count, 3)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/audit?from=yesterday").status, 400)

        // Keyset pages of one, then the CSV of the whole set.
        let first = try f.call("viewer", "GET", "/v1/audit?limit=1")
        let cursor = try XCTUnwrap(first.json()["next_cursor"] as? String)
        let second = try f.call("viewer", "GET", "/v1/audit?limit=1&cursor=\(cursor)")
        XCTAssertEqual((try second.json()["items"] as? [[String: Any]])?.first?["sequence"] as? Int, 2)
        let csv = try f.call("viewer", "GET", "/v1/audit", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        XCTAssertEqual(TestHTTP.dechunk(csv.body).split(separator: 10).count, 4, "header and three records")
    }

    func testFieldNamesWithoutPersonalValues() throws {
        let member = f.members[0]
        let secretName = "Trần Thị Bí Mật"
        let patched = try f.call("workplace", "PATCH", "/v1/members/\(member)", ["full_name": secretName, "birth_date": "1979-02-03"])
        XCTAssertEqual(patched.status, 200, patched.text)
        let items = try records("workplace")
        let fields = try XCTUnwrap(items.last?["fields"] as? [String: Any])
        XCTAssertEqual(Set(fields.keys), ["full_name", "birth_date"])
        XCTAssertTrue(fields["full_name"] is NSNull)
        XCTAssertTrue(fields["birth_date"] is NSNull)
        XCTAssertEqual((items.last?["entity"] as? [String: Any])?["type"] as? String, "member")
        let csv = String(decoding: TestHTTP.dechunk(try f.call("workplace", "GET", "/v1/audit", headers: ["Accept": "text/csv"]).body),
                         as: UTF8.self)
        let stored = try XCTUnwrap(try f.db.queryRow("SELECT string_agg(fields::text || coalesce(entity_type, ''), ' ') FROM audit_records")?
            .decode(String.self, 0))
        for text in [csv, stored, String(decoding: try f.call("workplace", "GET", "/v1/audit").body, as: UTF8.self)] {
            XCTAssertFalse(text.contains("Bí Mật"), text)
            XCTAssertFalse(text.contains("1979-02-03"), text)
        }
    }
}
