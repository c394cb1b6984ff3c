import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// `/v1/me`, `/v1/accounts` and `/v1/tokens` over HTTP: scope (subtree, 404 outside), roles (403),
/// disabling, token creation/listing/revocation, expiry, and per-token rate limits.
final class AccessTests: XCTestCase {
    var t: TestApp!
    var f: AccessFixture!

    override func setUpWithError() throws {
        t = try TestApp()
        f = try AccessFixture(t)
    }

    override func tearDown() { t?.stop() }

    func testMeDescribesTheCaller() throws {
        let officer = try f.principal(f.c, "officer", "Cán bộ xã C")
        let r = try f.call(officer.token, "GET", "/v1/me")
        XCTAssertEqual(r.status, 200, r.text)
        let me = try r.json()
        XCTAssertEqual((me["account"] as? [String: Any])?["id"] as? String, officer.account)
        XCTAssertEqual((me["account"] as? [String: Any])?["name"] as? String, "Cán bộ xã C")
        XCTAssertEqual(me["role"] as? String, "officer")
        let org = try XCTUnwrap(me["organization"] as? [String: Any])
        XCTAssertEqual(org["id"] as? String, f.c)
        XCTAssertEqual(org["code"] as? String, "P-C")
        XCTAssertEqual(org["name"] as? String, "Xã C")
        XCTAssertEqual(org["kind"] as? String, "commune")
        let token = try XCTUnwrap(me["token"] as? [String: Any])
        XCTAssertEqual(token["name"] as? String, "test")
        XCTAssertTrue(token["expires_at"] is NSNull)
        XCTAssertNotNil(UUID(uuidString: try XCTUnwrap(token["id"] as? String)))

        let none = try TestHTTP.request(port: t.port, method: "GET", path: "/v1/me")
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.problemCode, "unauthenticated")
        XCTAssertEqual(try f.call("blk_not-a-token", "GET", "/v1/me").status, 401)
    }

    func testAccountsAreScopedToTheSubtreeAndManagedByAdmins() throws {
        let pAdmin = try f.principal(f.p, "admin", "Quản trị P")
        let pViewer = try f.principal(f.p, "viewer", "Ban tổ chức P")
        let pOfficer = try f.principal(f.p, "officer", "Cán bộ P")
        let qAdmin = try f.principal(f.q, "admin", "Quản trị Q")

        // An admin creates accounts in its own organization and below: 201, Location, ETag.
        let created = try f.call(pAdmin.token, "POST", "/v1/accounts", ["org_id": f.c, "role": "officer", "name": "Cán bộ C"])
        XCTAssertEqual(created.status, 201, created.text)
        let cOfficer = try XCTUnwrap(created.json()["id"] as? String)
        XCTAssertEqual(created.headers["location"], "/v1/accounts/\(cOfficer)")
        XCTAssertEqual(created.headers["etag"], "\"v1\"")
        XCTAssertEqual(try created.json()["org_id"] as? String, f.c)
        XCTAssertEqual(try created.json()["role"] as? String, "officer")
        XCTAssertTrue(try created.json()["disabled_at"] is NSNull)
        let cViewer = try f.account(f.c, "viewer", "Xem C", by: pAdmin.token)

        // Outside the subtree: 404, never 403. Viewers and officers never write: 403.
        let outside = try f.call(pAdmin.token, "POST", "/v1/accounts", ["org_id": f.q, "role": "officer", "name": "x"])
        XCTAssertEqual(outside.status, 404, outside.text)
        XCTAssertEqual(outside.problemCode, "not_found")
        XCTAssertEqual(try f.call(pAdmin.token, "POST", "/v1/accounts", ["org_id": AccessFixture.root, "role": "admin", "name": "x"]).status, 404)
        for writer in [pViewer.token, pOfficer.token] {
            let r = try f.call(writer, "POST", "/v1/accounts", ["org_id": f.c, "role": "officer", "name": "x"])
            XCTAssertEqual(r.status, 403, r.text)
            XCTAssertEqual(r.problemCode, "forbidden")
        }

        // Validation: every problem listed with its pointer.
        let bad = try f.call(pAdmin.token, "POST", "/v1/accounts", ["org_id": "nope", "role": "boss", "name": "", "extra": 1])
        XCTAssertEqual(bad.status, 422)
        let pointers = (try bad.json()["errors"] as? [[String: Any]])?.compactMap { $0["pointer"] as? String }.sorted()
        XCTAssertEqual(pointers, ["/extra", "/name", "/org_id", "/role"])

        // Lists: admins and viewers see the accounts of their subtree only; officers may not list.
        let listed = try f.call(pAdmin.token, "GET", "/v1/accounts?limit=500")
        XCTAssertEqual(listed.status, 200, listed.text)
        XCTAssertEqual(Set(listed.listItems.compactMap { $0["id"] as? String }),
                       [pAdmin.account, pViewer.account, pOfficer.account, cOfficer, cViewer])
        XCTAssertEqual(try f.call(pViewer.token, "GET", "/v1/accounts").listItems.count, 5)
        let qList = try f.call(qAdmin.token, "GET", "/v1/accounts")
        XCTAssertEqual(qList.listItems.compactMap { $0["id"] as? String }, [qAdmin.account])
        let officerList = try f.call(pOfficer.token, "GET", "/v1/accounts")
        XCTAssertEqual(officerList.status, 403)
        XCTAssertEqual(officerList.problemCode, "forbidden")
        XCTAssertEqual(Set(try f.call(pAdmin.token, "GET", "/v1/accounts?org_id=\(f.c)").listItems.compactMap { $0["id"] as? String }),
                       [cOfficer, cViewer])
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/accounts?org_id=\(f.c)&role=viewer").listItems.compactMap { $0["id"] as? String },
                       [cViewer])
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/accounts?org_id=\(f.q)").listItems.count, 0)
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/accounts?role=boss").status, 400)

        // Keyset paging: two per page, every account exactly once, Link header while more exist.
        var seen: [String] = []
        var path = "/v1/accounts?limit=2"
        while true {
            let page = try f.call(pAdmin.token, "GET", path)
            XCTAssertEqual(page.status, 200, page.text)
            seen += page.listItems.compactMap { $0["id"] as? String }
            guard let next = try page.json()["next_cursor"] as? String else {
                XCTAssertNil(page.headers["link"])
                break
            }
            XCTAssertNotNil(page.headers["link"])
            path = "/v1/accounts?limit=2&cursor=\(next)"
        }
        XCTAssertEqual(seen.count, 5)
        XCTAssertEqual(Set(seen).count, 5)

        // CSV of the whole list, with a BOM.
        let csv = try f.call(pViewer.token, "GET", "/v1/accounts", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        let text = String(decoding: TestHTTP.dechunk(csv.body), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("\u{FEFF}id,org_id,role,name"), text)
        XCTAssertEqual(text.split(separator: "\r\n").count, 6)

        // Single accounts: 404 outside the subtree; an officer reads only its own.
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/accounts/\(qAdmin.account)").status, 404)
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/accounts/not-a-uuid").status, 404)
        let own = try f.call(pOfficer.token, "GET", "/v1/accounts/\(pOfficer.account)")
        XCTAssertEqual(own.status, 200)
        XCTAssertEqual(try f.call(pOfficer.token, "GET", "/v1/accounts/\(cOfficer)").status, 403)
        XCTAssertEqual(try f.call(pViewer.token, "GET", "/v1/accounts/\(cOfficer)").status, 200)
        let etag = try XCTUnwrap(own.headers["etag"])
        XCTAssertEqual(try f.call(pOfficer.token, "GET", "/v1/accounts/\(pOfficer.account)", headers: ["If-None-Match": etag]).status, 304)

        // Disabling: admin of the subtree only; stale If-Match → 412; the account's tokens die at once.
        let cToken = try f.token(for: cOfficer, by: pAdmin.token).secret
        XCTAssertEqual(try f.call(cToken, "GET", "/v1/me").status, 200)
        XCTAssertEqual(try f.call(pViewer.token, "POST", "/v1/accounts/\(cOfficer)/disable", [:]).status, 403)
        XCTAssertEqual(try f.call(pOfficer.token, "POST", "/v1/accounts/\(cOfficer)/disable", [:]).status, 403)
        XCTAssertEqual(try f.call(qAdmin.token, "POST", "/v1/accounts/\(cOfficer)/disable", [:]).status, 404)
        XCTAssertEqual(try f.call(pAdmin.token, "POST", "/v1/accounts/\(cOfficer)/disable", [:], headers: ["If-Match": "\"v7\""]).status, 412)
        let disabled = try f.call(pAdmin.token, "POST", "/v1/accounts/\(cOfficer)/disable", [:], headers: ["If-Match": "\"v1\""])
        XCTAssertEqual(disabled.status, 200, disabled.text)
        XCTAssertNotNil(try disabled.json()["disabled_at"] as? String)
        XCTAssertEqual(try disabled.json()["version"] as? Int, 2)
        let again = try f.call(pAdmin.token, "POST", "/v1/accounts/\(cOfficer)/disable", [:])
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(again.problemCode, "account_disabled")
        let dead = try f.call(cToken, "GET", "/v1/me")
        XCTAssertEqual(dead.status, 401)
        XCTAssertEqual(dead.problemCode, "unauthenticated")
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/accounts?disabled=true").listItems.compactMap { $0["id"] as? String }, [cOfficer])
        // A disabled account gets no new token.
        let noToken = try f.call(pAdmin.token, "POST", "/v1/tokens", ["account_id": cOfficer, "name": "again"])
        XCTAssertEqual(noToken.status, 409)
        XCTAssertEqual(noToken.problemCode, "account_disabled")

        // Events, in the same transactions, with the organization and the actor.
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM events WHERE type = 'account.created' AND entity_id = $1 AND $2 = ANY(org_ids)",
                                   UUID(uuidString: cOfficer)!, UUID(uuidString: f.c)!), 1)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM events WHERE type = 'account.disabled' AND entity_id = $1 AND actor_account_id = $2",
                                   UUID(uuidString: cOfficer)!, UUID(uuidString: pAdmin.account)!), 1)
    }

    func testTokensAreCreatedListedAndRevoked() throws {
        let pAdmin = try f.principal(f.p, "admin", "Quản trị P")
        let pViewer = try f.principal(f.p, "viewer", "Ban tổ chức P")
        let officer = try f.principal(f.c, "officer", "Cán bộ C")
        let qOfficer = try f.principal(f.q, "officer", "Cán bộ Q")

        // Anyone creates tokens for itself (account_id defaults to the caller), shown once.
        let expires = Date().addingTimeInterval(30 * 24 * 3600)
        let own = try f.call(officer.token, "POST", "/v1/tokens", ["name": "laptop", "expires_at": Timestamp.rfc3339(expires)])
        XCTAssertEqual(own.status, 201, own.text)
        let ownJSON = try own.json()
        let ownID = try XCTUnwrap(ownJSON["id"] as? String)
        let secret = try XCTUnwrap(ownJSON["token"] as? String)
        XCTAssertTrue(secret.hasPrefix("blk_"))
        XCTAssertEqual(ownJSON["account_id"] as? String, officer.account)
        XCTAssertEqual(ownJSON["status"] as? String, "active")
        XCTAssertNotNil(ownJSON["expires_at"] as? String)
        XCTAssertNil(ownJSON["token_hash"])
        XCTAssertEqual(own.headers["location"], "/v1/tokens/\(ownID)")
        XCTAssertEqual(own.headers["cache-control"], "no-store")
        let me = try f.call(secret, "GET", "/v1/me")
        XCTAssertEqual(me.status, 200)
        XCTAssertEqual((try me.json()["token"] as? [String: Any])?["name"] as? String, "laptop")
        XCTAssertEqual(try f.call(pViewer.token, "POST", "/v1/tokens", ["name": "viewer's own"]).status, 201)

        // Expiry must be in the future and at most a year away; the format is RFC 3339.
        for (value, code) in [(Timestamp.rfc3339(Date().addingTimeInterval(-60)), "out_of_range"),
                              (Timestamp.rfc3339(Date().addingTimeInterval(367 * 24 * 3600)), "out_of_range"),
                              ("tomorrow", "format")] {
            let r = try f.call(officer.token, "POST", "/v1/tokens", ["name": "x", "expires_at": value])
            XCTAssertEqual(r.status, 422, value)
            XCTAssertEqual((try r.json()["errors"] as? [[String: Any]])?.first?["code"] as? String, code, value)
        }
        XCTAssertEqual(try f.call(officer.token, "POST", "/v1/tokens", [:]).status, 422)

        // For another account: only an admin of its subtree (403 inside for other roles, 404 outside).
        XCTAssertEqual(try f.call(officer.token, "POST", "/v1/tokens", ["account_id": pViewer.account, "name": "x"]).status, 404)
        XCTAssertEqual(try f.call(pViewer.token, "POST", "/v1/tokens", ["account_id": officer.account, "name": "x"]).status, 403)
        XCTAssertEqual(try f.call(pAdmin.token, "POST", "/v1/tokens", ["account_id": qOfficer.account, "name": "x"]).status, 404)
        let forOfficer = try f.token(for: officer.account, name: "issued by admin", by: pAdmin.token)

        // Lists: one's own tokens; an admin's subtree's. Never a secret or a hash.
        let mine = try f.call(officer.token, "GET", "/v1/tokens")
        XCTAssertEqual(mine.status, 200)
        XCTAssertEqual(Set(mine.listItems.compactMap { $0["account_id"] as? String }), [officer.account])
        XCTAssertEqual(mine.listItems.count, 3)  // the fixture's, "laptop", "issued by admin"
        for item in mine.listItems {
            XCTAssertNil(item["token"])
            XCTAssertNil(item["token_hash"])
        }
        XCTAssertFalse(mine.text.contains(secret))
        let adminList = try f.call(pAdmin.token, "GET", "/v1/tokens?limit=500")
        XCTAssertEqual(Set(adminList.listItems.compactMap { $0["account_id"] as? String }), [pAdmin.account, pViewer.account, officer.account])
        XCTAssertEqual(try f.call(pAdmin.token, "GET", "/v1/tokens?account_id=\(officer.account)").listItems.count, 3)
        XCTAssertEqual(try f.call(pViewer.token, "GET", "/v1/tokens").listItems.compactMap { $0["account_id"] as? String },
                       [pViewer.account, pViewer.account])
        XCTAssertEqual(try f.call(officer.token, "GET", "/v1/tokens/\(ownID)").status, 200)
        XCTAssertEqual(try f.call(pViewer.token, "GET", "/v1/tokens/\(ownID)").status, 404)

        // Revocation: not by someone who does not manage the token (404), by an admin of the
        // subtree (204, repeatable), and the revoked token is refused at once.
        XCTAssertEqual(try f.call(pViewer.token, "DELETE", "/v1/tokens/\(forOfficer.id)").status, 404)
        XCTAssertEqual(try f.call(qOfficer.token, "DELETE", "/v1/tokens/\(forOfficer.id)").status, 404)
        XCTAssertEqual(try f.call(forOfficer.secret, "GET", "/v1/me").status, 200)
        let revoked = try f.call(pAdmin.token, "DELETE", "/v1/tokens/\(forOfficer.id)")
        XCTAssertEqual(revoked.status, 204, revoked.text)
        XCTAssertEqual(try f.call(pAdmin.token, "DELETE", "/v1/tokens/\(forOfficer.id)").status, 204)
        let refused = try f.call(forOfficer.secret, "GET", "/v1/me")
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.problemCode, "unauthenticated")
        XCTAssertEqual(try f.call(officer.token, "GET", "/v1/tokens?status=revoked").listItems.compactMap { $0["id"] as? String },
                       [forOfficer.id])
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM events WHERE type = 'token.revoked' AND entity_id = $1",
                                   UUID(uuidString: forOfficer.id)!), 1)

        // One's own token, including the one in use.
        XCTAssertEqual(try f.call(secret, "DELETE", "/v1/tokens/\(ownID)").status, 204)
        XCTAssertEqual(try f.call(secret, "GET", "/v1/me").status, 401)
        XCTAssertEqual(try f.call(officer.token, "GET", "/v1/me").status, 200)

        // Expired tokens are refused like revoked ones, also right after a cached use.
        let short = try f.call(officer.token, "POST", "/v1/tokens", ["name": "short", "expires_at": Timestamp.rfc3339(Date().addingTimeInterval(2))])
        let shortSecret = try XCTUnwrap(short.json()["token"] as? String)
        XCTAssertEqual(try f.call(shortSecret, "GET", "/v1/me").status, 200)
        Thread.sleep(forTimeInterval: 2.2)
        let expired = try f.call(shortSecret, "GET", "/v1/me")
        XCTAssertEqual(expired.status, 401)
        XCTAssertEqual(expired.problemCode, "unauthenticated")
        XCTAssertEqual(try f.call(officer.token, "GET", "/v1/tokens?status=expired").listItems.count, 1)

        // Events carry no secret.
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM events WHERE type = 'token.created'"), 8)
        XCTAssertEqual(try f.count("SELECT count(*)::int FROM events WHERE data::text LIKE '%blk_%'"), 0)
    }

    func testRateLimitsPerToken() throws {
        t.stop()
        t = try TestApp { $0.rateLimiter = RateLimiter(limit: 3, windowSeconds: 600) }
        f = try AccessFixture(t)  // three POSTs by the root admin: its bucket is empty now
        let other = try TokenIssuer.createAccountWithToken(f.db, orgCode: "TW", role: .viewer, name: "other").secret

        var remaining: [String] = []
        for _ in 0..<3 {
            let r = try f.call(other, "GET", "/v1/me")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["ratelimit-limit"], "3")
            remaining.append(r.headers["ratelimit-remaining"] ?? "")
        }
        XCTAssertEqual(remaining, ["2", "1", "0"])
        let limited = try f.call(other, "GET", "/v1/me")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.problemCode, "rate_limited")
        let retryAfter = try XCTUnwrap(Int(limited.headers["retry-after"] ?? ""))
        XCTAssertGreaterThanOrEqual(retryAfter, 1)
        XCTAssertLessThanOrEqual(retryAfter, 200)
        XCTAssertEqual(limited.headers["ratelimit-limit"], "3")
        XCTAssertEqual(limited.headers["ratelimit-remaining"], "0")
        XCTAssertNotNil(limited.headers["ratelimit-reset"])
        XCTAssertEqual(try f.call(f.rootAdmin, "GET", "/v1/me").status, 429)

        // Per token: a fresh token of the same account has its own bucket.
        let second = try TokenIssuer.issue(f.db, accountID: try XCTUnwrap(
            f.db.queryRow("SELECT id FROM accounts WHERE name = 'other'")).decode(UUID.self, 0), name: "second")
        XCTAssertEqual(try f.call(second.secret, "GET", "/v1/me").status, 200)
    }
}
