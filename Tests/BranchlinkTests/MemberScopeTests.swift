import Branchlink
import Foundation
import Postgres
import XCTest

/// Which members a subtree's list holds: those working in it and those with a live link into it,
/// each once, at every depth — in particular a province's residents who work in another province,
/// which the list reads from `member_links` (kept in step by triggers, migration 0016).
final class MemberScopeTests: XCTestCase {
    func testAProvinceListsItsCrossBoundaryResidentsOnceWhileTheirLinkIsLive() throws {
        let f = try ExchangeFixture(members: 2)
        defer { f.stop() }
        // Province P2 with a workplace committee whose member lives in commune C1 of province P1.
        func org(_ code: String, parent: String, kind: String) throws {
            let id = UUID().uuidString.lowercased()
            try f.db.execute("""
                INSERT INTO organizations (id, parent_id, path, kind, sector, code, name)
                SELECT $1::uuid, $2::uuid, path || org_label($1::uuid), $3, 'agency', $4, $4 FROM organizations WHERE id = $2::uuid
                """, id, parent == "TW" ? "00000000-0000-4000-8000-000000000001" : f.orgs[parent]!, kind, code)
            f.orgs[code] = id
        }
        try org("P2", parent: "TW", kind: "province")
        try org("W3", parent: "P2", kind: "grassroots_committee")
        let p2 = try TokenIssuer.createAccountWithToken(f.db, orgCode: "P2", role: .viewer, name: "p2").secret
        let crossing = try f.addMember(9, exemption: "none", workplace: "W3", commune: "C1")

        func listed(_ who: String) throws -> [String] {
            var ids: [String] = [], cursor: String? = nil
            repeat {
                let r = try TestHTTP.request(port: f.t.port, method: "GET", path: "/v1/members?limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""),
                                             headers: ["Authorization": "Bearer \(who)"])
                XCTAssertEqual(r.status, 200, r.text)
                let page = try r.json()
                ids += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            return ids
        }
        let viewer = f.tokens["viewer"]!  // P1
        XCTAssertFalse(try listed(viewer).contains(crossing), "no link yet: P1 does not see a member working in P2")
        XCTAssertTrue(try listed(p2).contains(crossing))

        try f.db.execute("""
            INSERT INTO introductions (number, year, member_id, workplace_id, commune_id, branch_id, workplace_path, commune_path, branch_path, status)
            SELECT 'X-1', 2026, m.id, w.id, c.id, b.id, w.path, c.path, b.path, 'active'
            FROM members m, organizations w, organizations c, organizations b
            WHERE m.id = $1::uuid AND w.id = $2::uuid AND c.id = $3::uuid AND b.id = $4::uuid
            """, crossing, f.orgs["W3"]!, f.orgs["C1"]!, f.orgs["B1"]!)
        var p1 = try listed(viewer)
        XCTAssertEqual(p1.filter { $0 == crossing }.count, 1, "a live link into P1: listed once")
        XCTAssertEqual(Set(p1), Set(f.members + [crossing]))
        let csv = try f.call("viewer", "GET", "/v1/members", headers: ["Accept": "text/csv"]).text
        XCTAssertEqual(csv.components(separatedBy: crossing).count - 1, 1, "the whole-set stream agrees")
        XCTAssertEqual(try listed(f.tokens["commune"]!).filter { $0 == crossing }.count, 1, "the commune (depth 3) too")

        // The member moves to a workplace in P1: still once (the workplace side now), not twice.
        try f.db.execute("UPDATE members SET workplace_org_id = $2::uuid, workplace_path = (SELECT path FROM organizations WHERE id = $2::uuid) WHERE id = $1::uuid",
                         crossing, f.orgs["W1a"]!)
        p1 = try listed(viewer)
        XCTAssertEqual(p1.filter { $0 == crossing }.count, 1)
        XCTAssertFalse(try listed(p2).contains(crossing))
        // Back to P2, then the link ends: P1 no longer lists the member.
        try f.db.execute("UPDATE members SET workplace_org_id = $2::uuid, workplace_path = (SELECT path FROM organizations WHERE id = $2::uuid) WHERE id = $1::uuid",
                         crossing, f.orgs["W3"]!)
        XCTAssertTrue(try listed(viewer).contains(crossing))
        try f.db.execute("UPDATE introductions SET status = 'ended', ended_on = CURRENT_DATE WHERE member_id = $1::uuid", crossing)
        XCTAssertFalse(try listed(viewer).contains(crossing))
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM member_links WHERE member_id = $1::uuid", crossing)!.decode(Int.self, 0), 0)
    }
}
