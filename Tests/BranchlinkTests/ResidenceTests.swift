import Branchlink
import Foundation
import XCTest

/// Residence meetings (attendance, the non-attendance list) and residence reports end to end, and
/// the report's state machine as a table.
final class ResidenceTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture(members: 4) }
    override func tearDown() { f.stop() }

    /// Introduces `member` and walks it to `active` at B1; returns the introduction id.
    @discardableResult
    func activate(_ member: String) throws -> String {
        let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": member, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        XCTAssertEqual(try f.call("branch", "POST", "/v1/introductions/\(id)/acknowledge", [:]).status, 200)
        return id
    }

    func today() throws -> String { try XCTUnwrap(try f.db.queryRow("SELECT hcm_today()::text")?.decode(String.self, 0)) }

    func errors(_ r: TestResponse) throws -> [(pointer: String, code: String)] {
        ((try r.json()["errors"] as? [[String: Any]]) ?? []).map { ($0["pointer"] as? String ?? "", $0["code"] as? String ?? "") }
    }

    func entries(_ meeting: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for e in (meeting["attendance"] as? [[String: Any]]) ?? [] { out[e["member_id"] as! String] = e["status"] as? String }
        return out
    }

    // MARK: Meetings

    func testMeetingAttendanceAndNonAttendance() throws {
        let (m0, m1, m2, outsider) = (f.members[0], f.members[1], f.members[2], f.members[3])
        for m in [m0, m1, m2] { try activate(m) }
        let day = try today()

        // Who may record: the residential branch itself only.
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/residence-meetings", ["held_on": day, "topic": "Họp"]).status, 403)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/residence-meetings", ["held_on": day, "topic": "Họp"]).status, 403)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/residence-meetings", ["branch_id": f.orgs["B1"]!, "held_on": day, "topic": "Họp"]).status, 403)
        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/residence-meetings", ["branch_id": f.orgs["B1"]!, "held_on": day, "topic": "Họp"]).status, 404)
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/residence-meetings", ["held_on": day, "topic": "Họp"]).status, 403)
        let future = try f.call("branch", "POST", "/v1/residence-meetings", ["held_on": "2999-01-01", "topic": "Họp", "x": 1])
        XCTAssertEqual(future.status, 422)
        XCTAssertEqual(try errors(future).map(\.pointer).sorted(), ["/held_on", "/x"])

        let created = try f.call("branch", "POST", "/v1/residence-meetings", ["held_on": day, "topic": "Họp định kỳ 6 tháng"])
        XCTAssertEqual(created.status, 201, created.text)
        let meeting = try created.json()
        let id = try XCTUnwrap(meeting["id"] as? String)
        XCTAssertEqual(created.headers["location"], "/v1/residence-meetings/\(id)")
        XCTAssertEqual(created.headers["etag"], "\"v1\"")
        XCTAssertEqual(meeting["commune_id"] as? String, f.orgs["C1"])
        XCTAssertEqual((meeting["attendance"] as? [Any])?.count, 0)

        let path = "/v1/residence-meetings/\(id)/attendance"
        let put = try f.call("branch", "PUT", path, ["entries": [["member_id": m0, "status": "present"], ["member_id": m1, "status": "excused"],
                                                                ["member_id": m2, "status": "absent"]]], headers: ["If-Match": "\"v1\""])
        XCTAssertEqual(put.status, 200, put.text)
        XCTAssertEqual(put.headers["etag"], "\"v2\"")
        let after = try put.json()
        XCTAssertEqual(entries(after), [m0: "present", m1: "excused", m2: "absent"])
        XCTAssertEqual(after["counts"] as? [String: Int], ["present": 1, "excused": 1, "absent": 1])

        // A non-member refused with its pointer, and nothing of the body written (m0 stays present).
        let bad = try f.call("branch", "PUT", path, ["entries": [["member_id": m0, "status": "absent"], ["member_id": outsider, "status": "absent"]]])
        XCTAssertEqual(bad.status, 422, bad.text)
        XCTAssertEqual(try bad.json()["code"] as? String, "not_a_member_of_branch")
        XCTAssertEqual(try errors(bad).map(\.pointer), ["/entries/1/member_id"])
        XCTAssertEqual(try errors(bad).map(\.code), ["not_a_member_of_branch"])
        let unchanged = try f.call("commune", "GET", "/v1/residence-meetings/\(id)")
        XCTAssertEqual(unchanged.headers["etag"], "\"v2\"")
        XCTAssertEqual(entries(try unchanged.json())[m0], "present")
        XCTAssertEqual(try f.call("commune", "GET", "/v1/residence-meetings/\(id)", headers: ["If-None-Match": "\"v2\""]).status, 304)

        let dup = try f.call("branch", "PUT", path, ["entries": [["member_id": m0, "status": "absent"], ["member_id": m0, "status": "present"],
                                                                ["member_id": m1, "status": "late"]]])
        XCTAssertEqual(dup.status, 422)
        XCTAssertEqual(try errors(dup).map(\.pointer).sorted(), ["/entries/1/member_id", "/entries/2/status"])
        XCTAssertEqual(try f.call("branch", "PUT", path, ["entries": [["member_id": m0, "status": "absent"]]], headers: ["If-Match": "\"v1\""]).status, 412)
        XCTAssertEqual(try f.call("viewer", "PUT", path, ["entries": [["member_id": m0, "status": "absent"]]]).status, 403)
        let notYours = try f.call("commune", "PUT", path, ["entries": [["member_id": m0, "status": "absent"]]])
        XCTAssertEqual(notYours.status, 403)
        XCTAssertEqual(try notYours.json()["code"] as? String, "not_your_action")
        XCTAssertEqual(try f.call("other_commune", "PUT", path, ["entries": [["member_id": m0, "status": "absent"]]]).status, 404)

        // A second meeting: m0 and m2 absent. m2 missed both, m0 one; m1 was excused and is not listed.
        let second = try f.call("branch", "POST", "/v1/residence-meetings", ["held_on": day, "topic": "Họp chuyên đề"])
        let id2 = try XCTUnwrap(try second.json()["id"] as? String)
        XCTAssertEqual(try f.call("branch", "PUT", "/v1/residence-meetings/\(id2)/attendance",
                                  ["entries": [["member_id": m0, "status": "absent"], ["member_id": m2, "status": "absent"]]]).status, 200)

        let year = String(day.prefix(4))
        let list = try f.call("commune", "GET", "/v1/residence-meetings/non-attendance?year=\(year)")
        XCTAssertEqual(list.status, 200, list.text)
        let rows = try XCTUnwrap(try list.json()["items"] as? [[String: Any]])
        var byMember: [String: [String: Any]] = [:]
        for r in rows { byMember[r["member_id"] as! String] = r }
        XCTAssertEqual(Set(byMember.keys), [m0, m2])
        XCTAssertEqual(byMember[m0]?["meetings"] as? Int, 2)
        XCTAssertEqual(byMember[m0]?["present"] as? Int, 1)
        XCTAssertEqual(byMember[m0]?["absent"] as? Int, 1)
        XCTAssertEqual(byMember[m2]?["absent"] as? Int, 2)
        XCTAssertEqual(byMember[m2]?["branch_id"] as? String, f.orgs["B1"])
        XCTAssertEqual(try f.call("branch", "GET", "/v1/residence-meetings/non-attendance?branch_id=\(f.orgs["B1"]!)").json()["items"].map { ($0 as! [Any]).count }, 2)
        let paged = try f.call("viewer", "GET", "/v1/residence-meetings/non-attendance?limit=1")
        XCTAssertNotNil(try paged.json()["next_cursor"] as? String)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/residence-meetings/non-attendance?year=1999").status, 400)

        let csv = try f.call("commune", "GET", "/v1/residence-meetings/non-attendance", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        let text = String(decoding: TestHTTP.dechunk(csv.body), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("\u{FEFF}member_id,member_full_name,party_card_number,branch_id"), text)
        XCTAssertEqual(text.split(separator: "\r\n").count, 3)
        XCTAssertTrue(text.contains("\(m2),Nguyễn Thị Hòa 2,"), text)

        // Another commune sees none of it.
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/residence-meetings/\(id)").status, 404)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/residence-meetings/\(id)").status, 404)
        XCTAssertEqual((try f.call("other_commune", "GET", "/v1/residence-meetings").json()["items"] as? [Any])?.count, 0)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/residence-meetings/non-attendance?branch_id=\(f.orgs["B1"]!)").status, 404)
        XCTAssertEqual((try f.call("other_commune", "GET", "/v1/residence-meetings/non-attendance").json()["items"] as? [Any])?.count, 0)
        // Ancestors read.
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/residence-meetings/\(id)").status, 200)
        let meetings = try f.call("viewer", "GET", "/v1/residence-meetings?branch_id=\(f.orgs["B1"]!)&limit=1")
        XCTAssertEqual((try meetings.json()["items"] as? [Any])?.count, 1)
        let next = try XCTUnwrap(try meetings.json()["next_cursor"] as? String)
        let page2 = try f.call("viewer", "GET", "/v1/residence-meetings?branch_id=\(f.orgs["B1"]!)&limit=1&cursor=\(next)")
        XCTAssertEqual((try page2.json()["items"] as? [[String: Any]])?.first?["id"] as? String, id2)
        let meetingsCSV = String(decoding: TestHTTP.dechunk(try f.call("commune", "GET", "/v1/residence-meetings", headers: ["Accept": "text/csv"]).body), as: UTF8.self)
        XCTAssertTrue(meetingsCSV.hasPrefix("\u{FEFF}id,branch_id,commune_id,held_on,topic,present,excused,absent"), meetingsCSV)
        XCTAssertEqual(meetingsCSV.split(separator: "\r\n").count, 3)

        let events = try f.db.query("SELECT type FROM events WHERE entity_type = 'residence_meeting' ORDER BY sequence").map { try $0.decode(String.self, 0) }
        XCTAssertEqual(events, ["residence_meeting.recorded", "residence_meeting.attendance_recorded", "residence_meeting.recorded",
                                "residence_meeting.attendance_recorded"])
    }

    // MARK: Reports

    /// The residence-report source for `InboxRoutes.sources` (same columns as the others).
    static let inboxSQL = """
        SELECT 'residence_report' AS kind, r.id, 'acknowledge' AS action, r.awaiting_org_id, r.due_on, m.id AS member_id, m.full_name,
               '/v1/residence-reports/' AS href
        FROM residence_reports r JOIN members m ON m.id = r.member_id WHERE r.awaiting_org_id = $1
        """

    func testReportSentAndAcknowledgedByTheWorkplace() throws {
        let m0 = f.members[0]
        try activate(m0)
        let body: [String: Any] = ["member_id": m0, "kind": "breach", "summary": "Không tham gia sinh hoạt 2 kỳ liên tiếp.", "occurred_on": try today()]
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/residence-reports", body).status, 403)
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/residence-reports", body).status, 403)
        let sent = try f.call("branch", "POST", "/v1/residence-reports", body)
        XCTAssertEqual(sent.status, 201, sent.text)
        let report = try sent.json()
        let id = try XCTUnwrap(report["id"] as? String)
        XCTAssertEqual(sent.headers["location"], "/v1/residence-reports/\(id)")
        XCTAssertEqual(report["status"] as? String, "sent")
        XCTAssertEqual(report["awaiting_org_id"] as? String, f.orgs["W1"])
        XCTAssertEqual(report["workplace_id"] as? String, f.orgs["W1"])
        XCTAssertEqual(report["branch_id"] as? String, f.orgs["B1"])
        XCTAssertNotNil(report["due_on"] as? String)
        XCTAssertEqual(report["overdue"] as? Bool, false)

        // Visible to the workplace, the commune, the province; not to the other commune.
        let got = try f.call("workplace", "GET", "/v1/residence-reports/\(id)")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/residence-reports/\(id)", headers: ["If-None-Match": got.headers["etag"]!]).status, 304)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/residence-reports/\(id)").status, 200)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/residence-reports/\(id)").status, 200)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/residence-reports/\(id)").status, 404)
        XCTAssertEqual(try f.call("other_workplace", "GET", "/v1/residence-reports/\(id)").status, 404)
        XCTAssertEqual((try f.call("other_commune", "GET", "/v1/residence-reports").json()["items"] as? [Any])?.count, 0)
        XCTAssertEqual((try f.call("workplace", "GET", "/v1/residence-reports?kind=breach&status=sent").json()["items"] as? [Any])?.count, 1)
        XCTAssertEqual((try f.call("workplace", "GET", "/v1/residence-reports?kind=commendation").json()["items"] as? [Any])?.count, 0)
        let csv = String(decoding: TestHTTP.dechunk(try f.call("workplace", "GET", "/v1/residence-reports", headers: ["Accept": "text/csv"]).body), as: UTF8.self)
        XCTAssertTrue(csv.hasPrefix("\u{FEFF}id,member_id,member_full_name"), csv)
        XCTAssertEqual(csv.split(separator: "\r\n").count, 2)

        // The inbox source handed over for InboxRoutes.sources: waits on the workplace until acknowledged.
        func inbox() throws -> [String] {
            try f.db.query(Self.inboxSQL, UUID(uuidString: f.orgs["W1"]!)!).map { "\(try $0.decode(String.self, 0)) \(try $0.decode(String.self, 2)) \(try $0.decode(String.self, 7))" }
        }
        XCTAssertEqual(try inbox(), ["residence_report acknowledge /v1/residence-reports/"])

        // Only the workplace acknowledges, once.
        let ack = "/v1/residence-reports/\(id)/acknowledge"
        XCTAssertEqual(try f.call("other_commune", "POST", ack, ["response": "x"]).status, 404)
        let byBranch = try f.call("branch", "POST", ack, ["response": "x"])
        XCTAssertEqual(byBranch.status, 403)
        XCTAssertEqual(try byBranch.json()["code"] as? String, "not_your_action")
        XCTAssertEqual(try f.call("workplace", "POST", ack, [:]).status, 422)
        XCTAssertEqual(try f.call("workplace", "POST", ack, ["response": "x"], headers: ["If-Match": "\"v7\""]).status, 412)
        let done = try f.call("workplace", "POST", ack, ["response": "Đã kiểm điểm, nhắc nhở đảng viên."], headers: ["If-Match": "\"v1\""])
        XCTAssertEqual(done.status, 200, done.text)
        let acked = try done.json()
        XCTAssertEqual(acked["status"] as? String, "acknowledged")
        XCTAssertTrue(acked["awaiting_org_id"] is NSNull)
        XCTAssertTrue(acked["due_on"] is NSNull)
        XCTAssertEqual(acked["response"] as? String, "Đã kiểm điểm, nhắc nhở đảng viên.")
        let twice = try f.call("workplace", "POST", ack, ["response": "Lần nữa"])
        XCTAssertEqual(twice.status, 409)
        XCTAssertEqual(try twice.json()["current_status"] as? String, "acknowledged")

        XCTAssertEqual(try inbox(), [])

        let events = try f.db.query("SELECT type FROM events WHERE entity_type = 'residence_report' ORDER BY sequence").map { try $0.decode(String.self, 0) }
        XCTAssertEqual(events, ["residence_report.sent", "residence_report.acknowledged"])
    }

    func testReportNeedsAnActiveLinkAtTheBranch() throws {
        let (assigned, stranger) = (f.members[1], f.members[2])
        // Assigned to B1 but not yet taken on: the branch sees the member, but has no active link.
        let intro = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": assigned, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(intro)/receive", [:]).status, 200)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(intro)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        let pending = try f.call("branch", "POST", "/v1/residence-reports", ["member_id": assigned, "kind": "commendation", "summary": "Tích cực"])
        XCTAssertEqual(pending.status, 409, pending.text)
        XCTAssertEqual(try pending.json()["code"] as? String, "no_active_link")
        // Never introduced: invisible to the branch.
        XCTAssertEqual(try f.call("branch", "POST", "/v1/residence-reports", ["member_id": stranger, "kind": "commendation", "summary": "Tích cực"]).status, 404)
        // Another branch of the same commune has no link with the member either.
        f.tokens["branch_b"] = try TokenIssuer.createAccountWithToken(f.db, orgCode: "B1b", role: .officer, name: "branch_b").secret
        try activate(f.members[0])
        let other = try f.call("branch_b", "POST", "/v1/residence-reports", ["member_id": f.members[0], "kind": "breach", "summary": "x"])
        XCTAssertEqual(other.status, 404, other.text)
        let invalid = try f.call("branch", "POST", "/v1/residence-reports", ["member_id": f.members[0], "kind": "praise", "summary": ""])
        XCTAssertEqual(invalid.status, 422)
        XCTAssertEqual(try errors(invalid).map(\.pointer).sorted(), ["/kind", "/summary"])
    }

    // MARK: State machine

    func testReportStateMachineTable() {
        for status in ResidenceReportStatus.allCases {
            for side in ExchangeSide.allCases {
                let result = ResidenceReportStateMachine.acknowledge(status, by: side)
                let expected: Result<ResidenceReportStatus, TransitionRefusal> =
                    side != .workplace ? .failure(.wrongSide(required: .workplace))
                    : status == .sent ? .success(.acknowledged)
                    : .failure(.invalidState(current: status.rawValue))
                XCTAssertEqual(result, expected, "acknowledge from \(status) by \(side)")
            }
        }
    }
}
