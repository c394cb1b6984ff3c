@testable import Branchlink
import Foundation
import Postgres
import XCTest

/// Delegation: an officer lets another account act for its organization (`Acting-For`); both
/// identities are recorded; revocation and expiry stop it on the next request; it does not pass
/// on; viewers cannot delegate; reach is the organization, its subtree and its parent.
final class DelegationTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture() }
    override func tearDown() { f.stop() }

    func accountID(_ name: String) throws -> String {
        try XCTUnwrap(try f.db.queryRow("SELECT id::text FROM accounts WHERE name = $1", name)?.decode(String.self, 0))
    }

    func later(_ seconds: TimeInterval) -> String { Timestamp.rfc3339(Date().addingTimeInterval(seconds)) }

    /// The commune C1 lets the officer of its branch B1 act for it for a day.
    func delegate(from who: String = "commune", to delegate: String = "branch") throws -> String {
        let r = try f.call(who, "POST", "/v1/delegations",
                           ["delegate_account_id": try accountID(delegate), "valid_until": later(86_400), "reason": "Nghỉ phép"])
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(try r.json()["status"] as? String, "active")
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    func introduce() throws -> String {
        let r = try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[0], "commune_id": f.orgs["C1"]!])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    func testDelegateActsForTheOrganizationWithBothIdentitiesRecorded() throws {
        let intro = try introduce()
        let actingFor = ["Acting-For": f.orgs["C1"]!]
        // Without a delegation the header is refused, and the branch alone cannot receive.
        XCTAssertEqual(try f.call("branch", "POST", "/v1/introductions/\(intro)/receive", [:], headers: actingFor).status, 403)
        let d = try delegate()
        let r = try f.call("branch", "POST", "/v1/introductions/\(intro)/receive", [:], headers: actingFor)
        XCTAssertEqual(r.status, 200, r.text)

        let branchAccount = try accountID("branch")
        let event = try XCTUnwrap(try f.db.queryRow("""
            SELECT actor_account_id::text, acting_for_org_id::text, delegation_id::text FROM events
            WHERE type = 'introduction.received' AND entity_id = $1::uuid
            """, intro))
        XCTAssertEqual(try event.decode(String.self, 0), branchAccount)
        XCTAssertEqual(try event.decode(String.self, 1), f.orgs["C1"])
        XCTAssertEqual(try event.decode(String.self, 2), d)

        let audit = try f.call("commune", "GET", "/v1/audit?action=POST%20/v1/introductions/%7Bid%7D/receive")
        let record = try XCTUnwrap((try audit.json()["items"] as? [[String: Any]])?.first)
        XCTAssertEqual(record["account_id"] as? String, branchAccount)
        XCTAssertEqual(record["account_org_id"] as? String, f.orgs["B1"])
        XCTAssertEqual(record["org_id"] as? String, f.orgs["C1"])
        XCTAssertEqual(record["acting_for"] as? [String: String], ["delegation_id": d, "org_id": f.orgs["C1"]!])

        // The feed shows the delegate as actor, with the delegation, acting for the commune.
        let feed = try f.call("commune", "GET", "/v1/events")
        let received = try XCTUnwrap((try feed.json()["items"] as? [[String: Any]])?.first { $0["type"] as? String == "introduction.received" })
        XCTAssertEqual(received["actor"] as? [String: String], ["account_id": branchAccount, "delegation_id": d])
        XCTAssertEqual(received["acting_for"] as? String, f.orgs["C1"])

        // Both sides list it; the delegate sees the commune's scope while acting for it.
        XCTAssertEqual((try f.call("commune", "GET", "/v1/delegations?direction=given").json()["items"] as? [Any])?.count, 1)
        XCTAssertEqual((try f.call("branch", "GET", "/v1/delegations?direction=received").json()["items"] as? [Any])?.count, 1)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/delegations/\(d)").status, 404)
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions/\(intro)", headers: actingFor).status, 200)
    }

    func testRevocationStopsTheNextRequestAtOnce() throws {
        let d = try delegate()
        let actingFor = ["Acting-For": f.orgs["C1"]!]
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions", headers: actingFor).status, 200)
        let revoked = try f.call("commune", "POST", "/v1/delegations/\(d)/revoke", [:])
        XCTAssertEqual(revoked.status, 200, revoked.text)
        XCTAssertEqual(try revoked.json()["status"] as? String, "revoked")
        // The principal cache (5 s) holds the branch's token, not its delegation.
        let next = try f.call("branch", "GET", "/v1/introductions", headers: actingFor)
        XCTAssertEqual(next.status, 403)
        XCTAssertEqual(try next.json()["code"] as? String, "delegation_not_active")
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions").status, 200, "its own account still works")
        XCTAssertEqual(try f.call("commune", "POST", "/v1/delegations/\(d)/revoke", [:]).status, 409)
    }

    func testExpiredDelegationStops() throws {
        let d = try delegate()
        let actingFor = ["Acting-For": f.orgs["C1"]!]
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions", headers: actingFor).status, 200)
        try f.db.execute("UPDATE delegations SET valid_from = now() - interval '2 hours', valid_until = now() - interval '1 second' WHERE id = $1::uuid", d)
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions", headers: actingFor).status, 403)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/delegations/\(d)").json()["status"] as? String, "expired")
        XCTAssertEqual(try f.call("commune", "POST", "/v1/delegations/\(d)/revoke", [:]).status, 409)
    }

    func testDelegationDoesNotPassOnAndViewersCannotDelegate() throws {
        _ = try delegate()
        let onward = try f.call("branch", "POST", "/v1/delegations",
                                ["delegate_account_id": try accountID("commune"), "valid_until": later(3600)],
                                headers: ["Acting-For": f.orgs["C1"]!])
        XCTAssertEqual(onward.status, 403)
        XCTAssertEqual(try onward.json()["code"] as? String, "delegation_not_transferable")
        let viewer = try f.call("viewer", "POST", "/v1/delegations", ["delegate_account_id": try accountID("admin"), "valid_until": later(3600)])
        XCTAssertEqual(viewer.status, 403)
        XCTAssertEqual(try viewer.json()["code"] as? String, "forbidden")
        // Acting for an organization gives the officer role, never admin.
        XCTAssertEqual(try f.call("admin", "POST", "/v1/delegations",
                                  ["delegate_account_id": try accountID("commune"), "valid_until": later(3600)]).status, 201)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/accounts", ["org_id": f.orgs["C1"]!, "role": "viewer", "name": "x"],
                                  headers: ["Acting-For": f.orgs["P1"]!]).status, 403)
    }

    func testReachAndPeriodRules() throws {
        func attempt(_ who: String, _ to: String, until: String? = nil, from: String? = nil) throws -> TestResponse {
            var body: [String: Any] = ["delegate_account_id": try accountID(to), "valid_until": until ?? later(3600)]
            if let from { body["valid_from"] = from }
            return try f.call(who, "POST", "/v1/delegations", body)
        }
        // Out of reach: a sibling commune, a workplace elsewhere in the province → 404 like unknown.
        XCTAssertEqual(try attempt("commune", "other_commune").status, 404)
        XCTAssertEqual(try attempt("commune", "workplace").status, 404)
        // In reach: the branch below, the province above (the parent), for the branch its commune.
        XCTAssertEqual(try attempt("branch", "commune").status, 201)
        XCTAssertEqual(try attempt("commune", "admin").status, 201)
        XCTAssertEqual(try attempt("branch", "other_commune").status, 404)
        // Period: at most a year, not in the past, not to oneself.
        XCTAssertEqual(try attempt("commune", "branch", until: later(367 * 86_400)).status, 422)
        XCTAssertEqual(try attempt("commune", "branch", until: later(3600), from: later(-86_400)).status, 422)
        XCTAssertEqual(try attempt("commune", "commune").status, 422)
        XCTAssertEqual(try attempt("commune", "branch", until: later(7200), from: later(3600)).json()["status"] as? String, "scheduled")
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions", headers: ["Acting-For": "not-a-uuid"]).status, 400)
    }

    func testRules() {
        XCTAssertTrue(DelegationRules.inReach(delegatingPath: "a.b", delegatePath: "a.b"))
        XCTAssertTrue(DelegationRules.inReach(delegatingPath: "a.b", delegatePath: "a.b.c.d"))
        XCTAssertTrue(DelegationRules.inReach(delegatingPath: "a.b", delegatePath: "a"))
        XCTAssertFalse(DelegationRules.inReach(delegatingPath: "a.b", delegatePath: "a.c"))
        XCTAssertFalse(DelegationRules.inReach(delegatingPath: "a.b", delegatePath: "a.bc"))
        XCTAssertFalse(DelegationRules.inReach(delegatingPath: "a", delegatePath: "b"))
        let now = Date()
        XCTAssertNil(DelegationRules.periodProblem(from: now, until: now.addingTimeInterval(3600), now: now))
        XCTAssertEqual(DelegationRules.periodProblem(from: now, until: now, now: now)?.field, "valid_until")
        XCTAssertEqual(DelegationRules.periodProblem(from: now.addingTimeInterval(-3600), until: now.addingTimeInterval(3600), now: now)?.field,
                       "valid_from")
        XCTAssertNotNil(DelegationRules.periodProblem(from: now, until: DelegationRules.latestEnd(from: now).addingTimeInterval(1), now: now))
        XCTAssertNil(DelegationRules.periodProblem(from: now, until: DelegationRules.latestEnd(from: now), now: now))
    }
}

/// The demo province's delegations (one active, one expired, added once) and audit records.
final class DemoDelegationTests: XCTestCase {
    func testDemoHasDelegationsAndAnIntactAuditChain() throws {
        let t = try TestApp()
        defer { t.stop() }
        let db = try Connection(t.databaseURL, statementTimeoutMilliseconds: 0)
        try DemoLoader.load(db)
        _ = try DemoLoader.issueTokens(db, baseURL: "http://127.0.0.1:\(t.port)")
        let handle = try DemoLoader.issueTokens(db, baseURL: "http://127.0.0.1:\(t.port)")
        func call(_ token: String, _ path: String, _ headers: [String: String] = [:]) throws -> TestResponse {
            try TestHTTP.request(port: t.port, method: "GET", path: path,
                                 headers: headers.merging(["Authorization": "Bearer \(token)"]) { a, _ in a })
        }
        let given = try call(handle.tokens.communeOfficer, "/v1/delegations?direction=given")
        let statuses = ((try given.json()["items"] as? [[String: Any]]) ?? []).compactMap { $0["status"] as? String }
        XCTAssertEqual(statuses.sorted(), ["active", "expired"], "added once, although tokens were issued twice")
        XCTAssertEqual(try call(handle.tokens.branchOfficer, "/v1/inbox", ["Acting-For": handle.orgs.commune]).status, 200)
        XCTAssertEqual(try call(handle.tokens.workplaceOfficer, "/v1/inbox", ["Acting-For": handle.orgs.commune]).status, 403)

        let audit = try call(handle.tokens.admin, "/v1/audit")
        let actions = ((try audit.json()["items"] as? [[String: Any]]) ?? []).compactMap { $0["action"] as? String }
        XCTAssertEqual(actions, ["demo.load", "demo.delegations"])
        let verify = try call(handle.tokens.admin, "/v1/audit/verify")
        XCTAssertEqual(try verify.json()["intact"] as? Bool, true)
        XCTAssertEqual(try verify.json()["checked"] as? Int, 2)
    }
}
