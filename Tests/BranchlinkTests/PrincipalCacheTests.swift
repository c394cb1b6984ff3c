@testable import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// The principal cache never lets this process honour a token it revoked or an account it disabled,
/// bounds what other processes' changes cost (its TTL), and the hand-written member JSON is
/// what JSONEncoder wrote before it (same fields and values, same escapes).
final class PrincipalCacheTests: XCTestCase {
    func me(_ t: TestApp, _ token: String) throws -> Int {
        try t.get("/v1/me", headers: ["Authorization": "Bearer \(token)"]).status
    }

    func testRevokeAndDisableAreImmediateEvenWithALongTTL() throws {
        let t = try TestApp { $0.principalCache = PrincipalCache(ttlSeconds: 3600) }
        defer { t.stop() }
        let db = try Connection(t.databaseURL)
        let admin = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .admin, name: "admin").secret
        let victim = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .viewer, name: "victim")
        XCTAssertEqual(try me(t, victim.secret), 200)  // now cached for an hour
        XCTAssertEqual(try me(t, victim.secret), 200)
        let revoked = try TestHTTP.request(port: t.port, method: "DELETE", path: "/v1/tokens/\(victim.id.lower)",
                                           headers: ["Authorization": "Bearer \(admin)"])
        XCTAssertEqual(revoked.status, 204, revoked.text)
        XCTAssertEqual(try me(t, victim.secret), 401)

        let other = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .viewer, name: "other")
        XCTAssertEqual(try me(t, other.secret), 200)
        let account = try XCTUnwrap(try db.queryRow("SELECT account_id FROM tokens WHERE id = $1", other.id)).decode(UUID.self, 0)
        let disabled = try TestHTTP.request(port: t.port, method: "POST", path: "/v1/accounts/\(account.lower)/disable",
                                            headers: ["Authorization": "Bearer \(admin)", "Content-Type": "application/json"], body: Array("{}".utf8))
        XCTAssertEqual(disabled.status, 200, disabled.text)
        XCTAssertEqual(try me(t, other.secret), 401)
    }

    func testChangesByAnotherProcessAreSeenWithinTheTTL() throws {
        let t = try TestApp { $0.principalCache = PrincipalCache(ttlSeconds: 0.5) }
        defer { t.stop() }
        let db = try Connection(t.databaseURL)
        let token = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .viewer, name: "elsewhere")
        XCTAssertEqual(try me(t, token.secret), 200)
        // As another instance or the CLI would: the database changes, this process is not told.
        try db.execute("UPDATE tokens SET revoked_at = now() WHERE id = $1", token.id)
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertEqual(try me(t, token.secret), 401)
    }

    func testAReadOlderThanAnInvalidationIsNotCached() throws {
        let cache = PrincipalCache(ttlSeconds: 60)
        let key = PrincipalCache.Key(Array(repeating: 7, count: 32))
        let p = Principal(accountID: UUID(), accountName: "a", tokenID: UUID(), role: .viewer, orgID: UUID(),
                          orgKind: "province", orgPath: "a.b", residentialBranch: false)
        let before = cache.generation()
        cache.invalidate(tokenID: p.tokenID)  // e.g. a revocation committed while the read ran
        cache.insert(key, p, tokenExpiresAt: nil, readAt: before)
        XCTAssertNil(cache.lookup(key))
        cache.insert(key, p, tokenExpiresAt: nil, readAt: cache.generation())
        XCTAssertEqual(cache.lookup(key)?.tokenID, p.tokenID)
        cache.invalidate(accountID: p.accountID)
        XCTAssertNil(cache.lookup(key))
        cache.insert(key, p, tokenExpiresAt: Date().addingTimeInterval(-1), readAt: cache.generation())
        XCTAssertNil(cache.lookup(key), "never past the token's expires_at")
    }

    func testBearerParsing() {
        func token(_ h: String?) -> String? { Authentication.bearer(h).map { String(decoding: $0, as: UTF8.self) } }
        XCTAssertEqual(token("Bearer abc"), "abc")
        XCTAssertEqual(token("bEaReR \t abc \t"), "abc")
        XCTAssertNil(token(nil)); XCTAssertNil(token("Bearer")); XCTAssertNil(token("Bearer ")); XCTAssertNil(token("Bearer    "))
        XCTAssertNil(token("Basic abc")); XCTAssertNil(token("Bearerabc")); XCTAssertNil(token("Bearer\tabc"))
        XCTAssertNil(token("Bearer " + String(repeating: "a", count: 201)))
        XCTAssertEqual(token("Bearer " + String(repeating: "a", count: 200))?.count, 200)
    }

    func testMemberJSONIsWhatJSONEncoderWrites() throws {
        // Member has no memberwise initializer: the rows come from SQL, as in the routes.
        let db = try Connection(try TestDatabase.createDatabase(prefix: "json", migrated: false))
        let names = ["Nguyễn Văn Đức", "quote \" backslash \\ slash / tab \t nl \n cr \r", "ctl \u{01}\u{08}\u{0C}\u{1F}\u{7F} end",
                     "emoji 👩‍👩‍👧 and U+2028 \u{2028}", ""]
        for (i, name) in names.enumerated() {
            let row = try XCTUnwrap(try db.queryRow("""
                SELECT gen_random_uuid(), 'AB-' || $1::int, $2::text, 'female', DATE '1980-02-29' + $1::int * 400,
                       CASE WHEN $1::int % 2 = 0 THEN DATE '0999-12-03' END, NULL::date, gen_random_uuid(),
                       CASE WHEN $1::int % 2 = 0 THEN gen_random_uuid() END, NULL::uuid, CASE WHEN $1::int % 2 = 0 THEN 'Số 1 "A"' END,
                       'activities', CASE WHEN $1::int <> 1 THEN 'HD 33 §1.1' END,
                       timestamptz '2026-11-23 13:12:18.123456+00' + $1::int * interval '1.000001 s',
                       timestamptz '2001-01-01 00:00:00+00' + $1::int * interval '1 day 0.5 s', $1::int * 1000 + 1, 'a.b'
                """, i, name))
            let m = try Member(row: row)
            // JSONEncoder on Linux writes keys in hash order: compare the objects, then the escapes.
            let ours = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(m.encoded())) as? NSDictionary)
            let theirs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try JSONOutput.encode(m))) as? NSDictionary)
            XCTAssertEqual(ours, theirs)
            XCTAssertEqual(Array(ours.allKeys.compactMap { $0 as? String }).sorted(), Array(theirs.allKeys.compactMap { $0 as? String }).sorted())
            var w = JSONBytes()
            w.string(name)
            XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), String(decoding: try JSONOutput.encode(name), as: UTF8.self))
        }
    }
}
