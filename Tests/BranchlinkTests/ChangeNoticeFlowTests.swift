import Branchlink
import Foundation
import XCTest

/// Change notices end to end: addressed through the live introduction, acknowledged by the
/// residence, ending the link for the kinds that end it.
final class ChangeNoticeFlowTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture() }
    override func tearDown() { f.stop() }

    /// Introduces `member` and walks it to `active`; returns the introduction id.
    func activate(_ member: String) throws -> String {
        let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": member, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        XCTAssertEqual(try f.call("branch", "POST", "/v1/introductions/\(id)/acknowledge", [:]).status, 200)
        return id
    }

    func notice(_ member: String, _ kind: String, _ details: [String: Any]? = nil) throws -> TestResponse {
        var body: [String: Any] = ["member_id": member, "kind": kind, "effective_on": "2026-11-20", "decision_ref": "QĐ 12/2026"]
        if let details { body["details"] = details }
        return try f.call("workplace", "POST", "/v1/change-notices", body)
    }

    func testPositionChangeThenExpulsionEndsTheLink() throws {
        let intro = try activate(f.members[0])
        let pos = try notice(f.members[0], "position_change", ["new_position": "Phó trưởng phòng"])
        XCTAssertEqual(pos.status, 201, pos.text)
        let n = try pos.json()
        XCTAssertEqual(n["awaiting_org_id"] as? String, f.orgs["B1"], "addressed to the assigned branch")
        let nid = try XCTUnwrap(n["id"] as? String)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/change-notices/\(nid)").status, 404)
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/change-notices/\(nid)/acknowledge", [:]).status, 403)
        let ack = try f.call("branch", "POST", "/v1/change-notices/\(nid)/acknowledge", ["note": "Đã nắm"])
        XCTAssertEqual(ack.status, 200, ack.text)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/change-notices/\(nid)/acknowledge", [:]).status, 409)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/introductions/\(intro)").json()["status"] as? String, "active")

        let expelled = try notice(f.members[0], "expelled")
        XCTAssertEqual(expelled.status, 201, expelled.text)
        let link = try f.call("workplace", "GET", "/v1/introductions/\(intro)").json()
        XCTAssertEqual(link["status"] as? String, "ended")
        XCTAssertEqual(link["end_reason"] as? String, "expelled")
        // No live link any more: a further notice is refused with a clear code.
        let none = try notice(f.members[0], "deceased")
        XCTAssertEqual(none.status, 409)
        XCTAssertEqual(try none.json()["code"] as? String, "no_live_introduction")
    }

    func testResidenceChangeAndTransferCreateWorkForTheRightSide() throws {
        let intro = try activate(f.members[1])
        let moved = try notice(f.members[1], "residence_change", ["new_commune_id": f.orgs["C2"]!, "new_address_line": "Số 9, ngõ 4"])
        XCTAssertEqual(moved.status, 201, moved.text)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/introductions/\(intro)").json()["status"] as? String, "ended")
        let task = try f.db.queryRow("SELECT kind, awaiting_org_id::text FROM workplace_tasks WHERE member_id = $1::uuid", f.members[1])
        XCTAssertEqual(try task?.decode(String.self, 0), "introduce_new_commune")
        XCTAssertEqual(try task?.decode(String.self, 1), f.orgs["W1"])
        // The member can now be introduced to the new commune.
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[1], "commune_id": f.orgs["C2"]!]).status, 201)

        let intro2 = try activate(f.members[2])
        let transfer = try notice(f.members[2], "work_transfer", ["new_workplace_org_id": f.orgs["W2"]!])
        XCTAssertEqual(transfer.status, 201, transfer.text)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/introductions/\(intro2)").json()["status"] as? String, "ended")
        let t2 = try f.db.queryRow("SELECT kind, awaiting_org_id::text FROM workplace_tasks WHERE member_id = $1::uuid", f.members[2])
        XCTAssertEqual(try t2?.decode(String.self, 0), "reintroduce_after_transfer")
        XCTAssertEqual(try t2?.decode(String.self, 1), f.orgs["W2"])
    }

    func testValidation() throws {
        _ = try activate(f.members[0])
        let missing = try notice(f.members[0], "position_change")
        XCTAssertEqual(missing.status, 422)
        XCTAssertTrue(((try missing.json()["errors"] as? [[String: Any]]) ?? []).contains { $0["pointer"] as? String == "/details" })
        let unknown = try notice(f.members[0], "expelled", ["x": "y"])
        XCTAssertEqual(((try unknown.json()["errors"] as? [[String: Any]]) ?? []).first?["pointer"] as? String, "/details/x")
        let longName = try notice(f.members[0], "data_correction", ["full_name": String(repeating: "Nguyễn ", count: 40)])
        XCTAssertEqual(longName.status, 422, longName.text)
        let toResidence = try notice(f.members[0], "work_transfer", ["new_workplace_org_id": f.orgs["B1"]!])
        XCTAssertEqual(toResidence.status, 422, toResidence.text)
        XCTAssertEqual(try toResidence.json()["code"] as? String, "invalid_workplace")
        let badKind = try notice(f.members[0], "promoted")
        XCTAssertEqual(((try badKind.json()["errors"] as? [[String: Any]]) ?? []).first?["code"] as? String, "invalid_value")
        XCTAssertEqual(try f.call("commune", "POST", "/v1/change-notices",
                                  ["member_id": f.members[0], "kind": "expelled", "effective_on": "2026-11-20"]).status, 403)
    }
}

/// The residence side sees a member while the link is live, never writes the record, and loses
/// sight of the member when the link ends.
final class ResidenceVisibilityTests: XCTestCase {
    func testCommuneSeesMembersOfLiveLinksOnly() throws {
        let f = try ExchangeFixture(members: 2)
        defer { f.stop() }
        let m = f.members[0]
        XCTAssertEqual(try f.call("commune", "GET", "/v1/members/\(m)").status, 404, "no link yet")
        let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": m, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/members/\(m)").status, 200)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/members/\(m)").status, 404)
        XCTAssertEqual(try f.call("commune", "PATCH", "/v1/members/\(m)", ["full_name": "X"]).status, 403)
        let listed = try f.call("commune", "GET", "/v1/members?link_status=sent").json()["items"] as? [[String: Any]]
        XCTAssertEqual(listed?.compactMap { $0["id"] as? String }, [m])
        let unlinked = try f.call("workplace", "GET", "/v1/members?link_status=none").json()["items"] as? [[String: Any]]
        XCTAssertEqual(unlinked?.compactMap { $0["id"] as? String }, [f.members[1]])
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/members?link_status=bogus").status, 400)

        let csv = try f.call("workplace", "GET", "/v1/members", headers: ["Accept": "text/csv"])
        XCTAssertEqual(String(decoding: TestHTTP.dechunk(csv.body), as: UTF8.self).split(separator: "\r\n").count, 3)

        XCTAssertEqual(try f.call("workplace", "POST", "/v1/introductions/\(id)/withdraw", ["reason": "sai"]).status, 200)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/members/\(m)").status, 404, "link over: out of sight")
    }
}

/// Reorganizations carry the exchanges along: after a commune merger the surviving commune sees and
/// acts on the introductions addressed to the closed one.
final class ReorganizationExchangeTests: XCTestCase {
    func testMergedCommunesExchangesFollowTheSurvivor() throws {
        let f = try ExchangeFixture(members: 1)
        defer { f.stop() }
        let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[0], "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/introductions/\(id)").status, 404)
        let merged = try f.call("admin", "POST", "/v1/organizations/\(f.orgs["C1"]!)/merge", ["into_id": f.orgs["C2"]!])
        XCTAssertEqual(merged.status, 200, merged.text)
        let seen = try f.call("other_commune", "GET", "/v1/introductions/\(id)")
        XCTAssertEqual(seen.status, 200, seen.text)
        XCTAssertEqual(try seen.json()["commune_id"] as? String, f.orgs["C2"])
        XCTAssertEqual(try seen.json()["awaiting_org_id"] as? String, f.orgs["C2"])
        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        // The old commune's branch moved under C2 with its path: it can be assigned.
        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        XCTAssertEqual(try f.call("branch", "GET", "/v1/introductions/\(id)").status, 200)
    }
}
