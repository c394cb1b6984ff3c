@testable import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// The principal cache never lets this process honour a token it revoked or an account it disabled,
/// bounds what other processes' changes cost (its TTL), and the hand-written member JSON is
/// byte for byte what JSONEncoder wrote before it.
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
        let names = ["Nguyễn Văn Đức", "quote \" backslash \\ slash / tab \t nl \n cr \r", "ctl \u{01}\u{08}\u{0C}\u{1F}\u{7F} end",
                     "emoji 👩‍👩‍👧 and U+2028 \u{2028}", ""]
        for (i, name) in names.enumerated() {
            let m = Member(id: UUID(), partyCardNumber: "AB-\(i)", fullName: name, sex: "female",
                           birthDate: PGDate(year: 1980 + i, month: 2, day: 29 - i)!,
                           admittedOn: i % 2 == 0 ? PGDate(year: 2001, month: 12, day: 3) : nil, fullMemberOn: nil,
                           workplaceOrgId: UUID(),
                           residence: i % 2 == 0 ? MemberResidence(provinceId: UUID(), communeId: nil, addressLine: "Số 1 \"A\"") : nil,
                           exemption: "activities", exemptionGround: i == 1 ? nil : "HD 33 §1.1",
                           createdAt: Date(timeIntervalSince1970: 1_763_900_000.123456 + Double(i) * 0.000001),
                           updatedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(i) * 86_400.5), version: i * 1000 + 1,
                           workplacePath: "a.b")
            XCTAssertEqual(String(decoding: m.encoded(), as: UTF8.self), String(decoding: try JSONOutput.encode(m), as: UTF8.self))
        }
    }
}
