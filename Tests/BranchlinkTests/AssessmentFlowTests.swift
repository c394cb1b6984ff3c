import Branchlink
import Foundation
import XCTest

/// Assessments end to end through the API: the annual campaign, the commune forwarding, the
/// branch's meeting with the Front work committee, the form, send-back, confirmation and closing;
/// on-demand and confidential requests; the background path of large campaigns.
final class AssessmentFlowTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture() }
    override func tearDown() { f.stop() }

    func today() throws -> String { try XCTUnwrap(try f.db.queryRow("SELECT hcm_today()::text")?.decode(String.self, 0)) }
    func date(plus days: Int) throws -> String {
        try XCTUnwrap(try f.db.queryRow("SELECT (hcm_today() + $1::int)::text", days)?.decode(String.self, 0))
    }
    func year() throws -> Int { Int(try today().prefix(4))! }

    /// Introduces `member` and walks it to `active`.
    @discardableResult
    func activate(_ member: String) throws -> String {
        let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": member, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        XCTAssertEqual(try f.call("branch", "POST", "/v1/introductions/\(id)/acknowledge", [:]).status, 200)
        return id
    }

    func campaign(_ who: String = "workplace", org: String = "W1") throws -> TestResponse {
        try f.call(who, "POST", "/v1/assessment-campaigns", ["year": try year(), "org_id": f.orgs[org]!, "due_on": try date(plus: 30)])
    }

    func code(_ r: TestResponse) throws -> String? { try r.json()["code"] as? String }

    func testAnnualCampaignThroughTheWholeFlow() throws {
        try activate(f.members[0])
        try activate(f.members[1])
        let exempt = try f.addMember(50, exemption: "activities")
        try activate(exempt)
        // members[2] is introduced but not yet taken on by a branch: not eligible.
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[2], "commune_id": f.orgs["C1"]!]).status, 201)

        let run = try campaign()
        XCTAssertEqual(run.status, 201, run.text)
        let c = try run.json()
        XCTAssertEqual(c["status"] as? String, "done")
        let counts = try XCTUnwrap(c["counts"] as? [String: Any])
        XCTAssertEqual(counts["eligible"] as? Int, 2)
        XCTAssertEqual(counts["created"] as? Int, 2)
        XCTAssertEqual(counts["skipped_exempt"] as? Int, 1)
        XCTAssertEqual(counts["skipped_not_active"] as? Int, 1)
        // Re-running never duplicates.
        let again = try campaign().json()
        XCTAssertEqual((again["counts"] as? [String: Any])?["created"] as? Int, 0)
        XCTAssertEqual((again["counts"] as? [String: Any])?["skipped_existing"] as? Int, 2)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM assessment_requests WHERE purpose = 'annual'")?.decode(Int.self, 0), 2)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM events WHERE type = 'assessment_request.created'")?.decode(Int.self, 0), 2)
        let status = try f.call("workplace", "GET", "/v1/assessment-campaigns/\(c["id"] as! String)").json()
        XCTAssertEqual((status["by_status"] as? [String: Int])?["requested"], 2)

        let list = try f.call("workplace", "GET", "/v1/assessment-requests?campaign_id=\(c["id"] as! String)").json()
        let items = try XCTUnwrap(list["items"] as? [[String: Any]])
        XCTAssertEqual(items.count, 2)
        let r = try XCTUnwrap(items.first { $0["member_id"] as? String == f.members[0] })
        let id = try XCTUnwrap(r["id"] as? String)
        XCTAssertEqual(r["form_variant"] as? String, "A")
        XCTAssertEqual(r["awaiting_org_id"] as? String, f.orgs["C1"])
        let base = "/v1/assessment-requests/\(id)"

        // The commune has it in its inbox; the branch does not see it before it is forwarded.
        let inbox = try f.call("commune", "GET", "/v1/inbox?kind=assessment_request").json()
        XCTAssertEqual((inbox["items"] as? [[String: Any]])?.filter { $0["id"] as? String == id }.first?["action"] as? String, "forward")
        XCTAssertEqual(try f.call("branch", "GET", base).status, 404)
        XCTAssertEqual(try f.call("other_commune", "GET", base).status, 404)
        XCTAssertEqual(try code(try f.call("branch", "POST", "\(base)/submit", [:])), "not_found")
        XCTAssertEqual(try f.call("workplace", "POST", "\(base)/forward", [:]).status, 403)

        let forwarded = try f.call("commune", "POST", "\(base)/forward", [:])
        XCTAssertEqual(forwarded.status, 200, forwarded.text)
        XCTAssertEqual(try forwarded.json()["branch_id"] as? String, f.orgs["B1"])
        XCTAssertEqual(try forwarded.json()["awaiting_org_id"] as? String, f.orgs["B1"])

        // No meeting yet: refused with its code, even with a complete form.
        let full: [String: Any] = ["items": (1...5).map { ["item": $0, "grade": 1] }, "proposal": "commend", "remarks": "Gương mẫu, nhiệt tình."]
        XCTAssertEqual(try f.call("branch", "PUT", "\(base)/form", ["items": [["item": 1, "grade": 1]]]).status, 200)
        var submit = try f.call("branch", "POST", "\(base)/submit", [:])
        XCTAssertEqual(submit.status, 422)
        XCTAssertEqual(try code(submit), "front_meeting_required")
        // A meeting of the branch committee alone is not enough.
        let alone = try f.call("branch", "POST", "\(base)/meeting", ["held_on": try today(), "attendees": [["name": "Lê Văn Bí", "side": "branch_committee"]]])
        XCTAssertEqual(alone.status, 200, alone.text)
        submit = try f.call("branch", "POST", "\(base)/submit", [:])
        XCTAssertEqual(try code(submit), "front_meeting_required")

        // One meeting with the Front for both members links the forwarded request.
        let meeting = try f.call("branch", "POST", "/v1/assessment-meetings", [
            "held_on": try today(), "location": "Nhà văn hóa tổ 3",
            "attendees": [["name": "Lê Văn Bí", "side": "branch_committee", "title": "Bí thư chi bộ"],
                          ["name": "Trần Thị Mặt", "side": "front_committee", "title": "Trưởng ban công tác Mặt trận"]],
            "member_ids": [f.members[0], f.members[1]],
        ])
        XCTAssertEqual(meeting.status, 201, meeting.text)
        XCTAssertEqual(try meeting.json()["front_attendees"] as? Int, 1)
        XCTAssertEqual(try meeting.json()["request_count"] as? Int, 1, "only the forwarded request is linked")
        let stranger = try f.call("branch", "POST", "/v1/assessment-meetings", [
            "held_on": try today(), "attendees": [["name": "A", "side": "front_committee"]], "member_ids": [f.members[2]]])
        XCTAssertEqual(stranger.status, 422)
        XCTAssertEqual(((try stranger.json()["errors"] as? [[String: Any]]) ?? []).first?["pointer"] as? String, "/member_ids/0")

        // Incomplete form: refused naming what is missing.
        submit = try f.call("branch", "POST", "\(base)/submit", [:])
        XCTAssertEqual(submit.status, 422)
        XCTAssertEqual(try code(submit), "form_incomplete")
        XCTAssertEqual((try submit.json()["errors"] as? [[String: Any]])?.count, 5)
        let bad = try f.call("branch", "PUT", "\(base)/form", ["items": [["item": 6, "grade": 1], ["item": 2, "grade": 4]]])
        XCTAssertEqual(bad.status, 422)
        XCTAssertEqual(((try bad.json()["errors"] as? [[String: Any]]) ?? []).compactMap { $0["pointer"] as? String }, ["/items/1/grade", "/items/0/item"])
        let saved = try f.call("branch", "PUT", "\(base)/form", full)
        XCTAssertEqual(saved.status, 200, saved.text)
        let savedTag = try XCTUnwrap(saved.headers["etag"])
        XCTAssertEqual(try f.call("branch", "PUT", "\(base)/form", full, headers: ["If-Match": "\"v1\""]).status, 412)
        let view = try f.call("branch", "GET", "\(base)/form", headers: ["Accept": "application/json"]).json()
        XCTAssertEqual((view["summary"] as? [String: Any])?["value"] as? String, "good")
        XCTAssertEqual((view["summary"] as? [String: Any])?["derived"] as? Bool, true)
        XCTAssertEqual((view["meeting"] as? [String: Any])?["front_attendees"] as? Int, 1)
        XCTAssertEqual(try f.call("workplace", "GET", "\(base)/form", headers: ["Accept": "application/json"]).status, 409)
        XCTAssertEqual(try f.call("branch", "GET", "\(base)/form", headers: ["Accept": "application/json", "If-None-Match": savedTag]).status, 304)

        submit = try f.call("branch", "POST", "\(base)/submit", [:])
        XCTAssertEqual(submit.status, 200, submit.text)
        XCTAssertEqual(try submit.json()["awaiting_org_id"] as? String, f.orgs["C1"])
        XCTAssertEqual(try f.call("branch", "PUT", "\(base)/form", full).status, 409, "a submitted form is read-only")
        XCTAssertEqual(try f.call("commune", "GET", "\(base)/form", headers: ["Accept": "application/json"]).status, 200)

        // Sent back with a reason, corrected, resubmitted.
        XCTAssertEqual(try f.call("commune", "POST", "\(base)/send-back", [:]).status, 422, "a reason is required")
        let back = try f.call("commune", "POST", "\(base)/send-back", ["reason": "Mục 3 chưa đúng với sổ theo dõi sinh hoạt."])
        XCTAssertEqual(back.status, 200, back.text)
        XCTAssertEqual(try back.json()["status"] as? String, "forwarded")
        XCTAssertEqual(try back.json()["send_back_count"] as? Int, 1)
        var corrected = full
        corrected["items"] = (1...5).map { ["item": $0, "grade": $0 == 3 ? 2 : 1] }
        XCTAssertEqual(try f.call("branch", "PUT", "\(base)/form", corrected).status, 200)
        XCTAssertEqual(try f.call("branch", "POST", "\(base)/submit", [:]).status, 200)

        let confirmed = try f.call("commune", "POST", "\(base)/confirm", [:])
        XCTAssertEqual(confirmed.status, 200, confirmed.text)
        XCTAssertEqual(try confirmed.json()["awaiting_org_id"] as? String, f.orgs["W1"])

        // The workplace reads the confirmed form, printable.
        let html = try f.call("workplace", "GET", "\(base)/form")
        XCTAssertEqual(html.status, 200)
        XCTAssertEqual(html.headers["content-type"], "text/html; charset=utf-8")
        for text in ["PHIẾU NHẬN XÉT", "sau khi họp với Ban công tác Mặt trận", "Nguyễn Thị Hòa 0", "☒ Tham gia chưa đầy đủ",
                     "☐ Tham gia đầy đủ", "☒ Biểu dương", "T/M Chi bộ", "Xác nhận của Đảng ủy xã, phường, thị trấn", "Đã xác nhận ngày"] {
            XCTAssertTrue(html.text.contains(text), "form HTML lacks \(text)")
        }
        XCTAssertFalse(html.text.contains("BẢN NHÁP"))
        XCTAssertEqual(try f.call("workplace", "GET", "\(base)/form", headers: ["Accept": "image/png"]).status, 406)
        try checkPrintedInChromium(base)

        let closed = try f.call("workplace", "POST", "\(base)/close", ["note": "Đã dùng khi đánh giá, xếp loại đảng viên cuối năm."])
        XCTAssertEqual(closed.status, 200, closed.text)
        XCTAssertNil(try closed.json()["awaiting_org_id"] as? String)
        let twice = try f.call("workplace", "POST", "\(base)/close", [:])
        XCTAssertEqual(twice.status, 409)
        XCTAssertEqual(try twice.json()["current_status"] as? String, "closed")

        let events = try f.db.query("SELECT type FROM events WHERE entity_id = $1::uuid ORDER BY sequence", id).map { try $0.decode(String.self, 0) }
        XCTAssertEqual(events.filter { $0.hasPrefix("assessment_request.") }, [
            "assessment_request.created", "assessment_request.forwarded", "assessment_request.submitted", "assessment_request.sent_back",
            "assessment_request.submitted", "assessment_request.confirmed", "assessment_request.closed"])
    }

    /// The form printed by headless Chromium: a PDF of exactly one A4 page (595 × 842 pt), the
    /// layout the officers sign.
    func checkPrintedInChromium(_ base: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            let pdf = try f.call("workplace", "GET", "\(base)/form", headers: ["Accept": "application/pdf"])
            XCTAssertEqual(try code(pdf), "pdf_unavailable")
            return
        }
        let pdf = try f.call("workplace", "GET", "\(base)/form", headers: ["Accept": "application/pdf"])
        XCTAssertEqual(pdf.status, 200, pdf.text)
        XCTAssertEqual(pdf.headers["content-type"], "application/pdf")
        XCTAssertTrue(pdf.body.starts(with: Array("%PDF-".utf8)))
        let text = String(decoding: pdf.body, as: UTF8.self)
        let pages = text.components(separatedBy: "/Type /Page").count - 1 - (text.components(separatedBy: "/Type /Pages").count - 1)
        XCTAssertEqual(pages, 1, "the form fits on one page")
        XCTAssertTrue(text.contains("/MediaBox [0 0 594.95996 841.91998]") || text.contains("/MediaBox [0 0 595"), "A4")
    }

    func testExemptMemberOnDemandVariantBAndConfidentiality() throws {
        let exempt = try f.addMember(60, exemption: "activities")
        try activate(exempt)
        XCTAssertEqual((try campaign().json()["counts"] as? [String: Any])?["skipped_exempt"] as? Int, 1)

        let annual = try f.call("workplace", "POST", "/v1/assessment-requests", ["member_id": exempt, "purpose": "annual", "needed_by": try date(plus: 10)])
        XCTAssertEqual(annual.status, 422)
        XCTAssertEqual(((try annual.json()["errors"] as? [[String: Any]]) ?? []).first?["code"] as? String, "annual_from_campaign")

        let created = try f.call("workplace", "POST", "/v1/assessment-requests",
                                 ["member_id": exempt, "purpose": "appointment", "needed_by": try date(plus: 5), "confidential": true])
        XCTAssertEqual(created.status, 201, created.text)
        let r = try created.json()
        XCTAssertEqual(r["form_variant"] as? String, "B")
        XCTAssertLessThanOrEqual(r["due_on"] as! String, try date(plus: 5), "the step's due date never passes the needed-by date")
        let id = try XCTUnwrap(r["id"] as? String)
        let base = "/v1/assessment-requests/\(id)"

        // Confidential: the provincial viewer gets 404 and does not see it in lists, but counts it.
        XCTAssertEqual(try f.call("viewer", "GET", base).status, 404)
        XCTAssertEqual((try f.call("viewer", "GET", "/v1/assessment-requests").json()["items"] as? [Any])?.count, 0)
        XCTAssertEqual(try f.call("admin", "GET", base).status, 404)
        XCTAssertEqual(try f.call("other_commune", "GET", base).status, 404)
        XCTAssertEqual(try f.call("commune", "GET", base).status, 200)
        XCTAssertEqual(try f.call("workplace", "GET", base).status, 200)
        let rollup = try f.call("viewer", "GET", "/v1/reports/assessments?year=\(try year())").json()
        XCTAssertEqual(rollup["confidential"] as? Int, 1)
        XCTAssertEqual(((rollup["by_purpose"] as? [String: Any])?["appointment"] as? [String: Int])?["requested"], 1)
        let viewerInbox = try f.call("viewer", "GET", "/v1/inbox?org_id=\(f.orgs["C1"]!)").json()
        XCTAssertEqual((viewerInbox["items"] as? [Any])?.count, 0, "not in a child's inbox either")
        XCTAssertEqual((viewerInbox["counts"] as? [String: Any])?["total"] as? Int, 0)

        XCTAssertEqual(try f.call("commune", "POST", "\(base)/forward", [:]).status, 200)
        // Variant B: three graded items and no proposal.
        let withProposal = try f.call("branch", "PUT", "\(base)/form", ["items": [["item": 1, "grade": 1]], "proposal": "commend"])
        XCTAssertEqual(((try withProposal.json()["errors"] as? [[String: Any]]) ?? []).first?["code"] as? String, "not_in_variant")
        let item4 = try f.call("branch", "PUT", "\(base)/form", ["items": [["item": 4, "grade": 1]]])
        XCTAssertEqual(((try item4.json()["errors"] as? [[String: Any]]) ?? []).first?["code"] as? String, "unknown_item")
        XCTAssertEqual(try f.call("branch", "PUT", "\(base)/form", ["items": (1...3).map { ["item": $0, "grade": 2] }]).status, 200)
        let meeting = try f.call("branch", "POST", "\(base)/meeting", ["held_on": try today(), "attendees": [
            ["name": "Trần Thị Mặt", "side": "front_committee"]]])
        XCTAssertEqual(meeting.status, 200, meeting.text)
        XCTAssertEqual(try f.call("branch", "POST", "\(base)/submit", [:]).status, 200)
        let view = try f.call("commune", "GET", "\(base)/form", headers: ["Accept": "application/json"]).json()
        XCTAssertEqual((view["items"] as? [Any])?.count, 3)
        XCTAssertTrue(view["proposal"] is NSNull)
        XCTAssertEqual((view["summary"] as? [String: Any])?["value"] as? String, "satisfactory")

        // The form templates in the database have the shape the rule tests assume.
        let shape = try f.db.query("SELECT variant, string_agg(kind, ',' ORDER BY item) FROM assessment_form_items WHERE version = 1 GROUP BY variant ORDER BY variant")
            .map { "\(try $0.decode(String.self, 0)):\(try $0.decode(String.self, 1))" }
        XCTAssertEqual(shape, ["A:graded,graded,graded,graded,graded,proposal,remarks", "B:graded,graded,graded,remarks"])
    }

    /// The 2025 commune mergers: a merged commune's requests, meetings and campaign due dates name
    /// the surviving commune, and its officers carry on with them.
    func testMergedCommuneHandsItsRequestsOver() throws {
        try activate(f.members[0])
        try activate(f.members[1])
        XCTAssertEqual(try campaign().status, 201)
        let requests = try XCTUnwrap(try f.call("workplace", "GET", "/v1/assessment-requests").json()["items"] as? [[String: Any]])
        let first = try XCTUnwrap(requests.first?["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/assessment-requests/\(first)/forward", [:]).status, 200)
        XCTAssertEqual(try f.call("branch", "POST", "/v1/assessment-meetings", ["held_on": try today(),
            "attendees": [["name": "Trần Thị Mặt", "side": "front_committee"]], "member_ids": [f.members[0]]]).status, 201)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/assessment-requests/\(first)").status, 404)

        let merged = try f.call("admin", "POST", "/v1/organizations/\(f.orgs["C1"]!)/merge", ["into_id": f.orgs["C2"]!])
        XCTAssertEqual(merged.status, 200, merged.text)
        for r in requests {
            let now = try f.call("other_commune", "GET", "/v1/assessment-requests/\(r["id"] as! String)")
            XCTAssertEqual(now.status, 200, "the surviving commune sees the request")
            XCTAssertEqual(try now.json()["commune_id"] as? String, f.orgs["C2"])
        }
        let second = try XCTUnwrap(requests.first { $0["id"] as? String != first }?["id"] as? String)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/assessment-requests/\(second)").json()["awaiting_org_id"] as? String, f.orgs["C2"])
        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/assessment-requests/\(second)/forward", [:]).status, 200)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM assessment_meetings WHERE commune_id = $1::uuid", f.orgs["C2"]!)?.decode(Int.self, 0), 1)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM assessment_campaign_dues WHERE commune_id = $1::uuid", f.orgs["C1"]!)?.decode(Int.self, 0), 0)
    }

    func testRefusalsCancelAndConcurrency() throws {
        try activate(f.members[0])
        let introOnly = try f.addMember(70, exemption: "introduction")
        let exemptIntro = try f.call("workplace", "POST", "/v1/assessment-requests", ["member_id": introOnly, "purpose": "reward", "needed_by": try date(plus: 5)])
        XCTAssertEqual(try code(exemptIntro), "member_exempt_from_introduction")
        let unlinked = try f.call("workplace", "POST", "/v1/assessment-requests", ["member_id": f.members[1], "purpose": "reward", "needed_by": try date(plus: 5)])
        XCTAssertEqual(unlinked.status, 409)
        XCTAssertEqual(try code(unlinked), "no_active_link")
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/assessment-requests", ["member_id": f.members[0], "purpose": "reward", "needed_by": "2020-01-01"]).status, 422)
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/assessment-requests", ["member_id": f.members[0], "purpose": "reward", "needed_by": try date(plus: 5)]).status, 403)
        XCTAssertEqual(try f.call("other_workplace", "POST", "/v1/assessment-requests", ["member_id": f.members[0], "purpose": "reward", "needed_by": try date(plus: 5)]).status, 404)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/assessment-requests", ["member_id": f.members[0], "purpose": "reward", "needed_by": try date(plus: 5)]).status, 403)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/assessment-campaigns", ["year": try year(), "due_on": try date(plus: 5)]).status, 422)
        XCTAssertEqual(try campaign("workplace", org: "P1").status, 404, "the province is outside a workplace's scope")
        XCTAssertEqual(try campaign("viewer", org: "P1").status, 403, "viewers never write")
        XCTAssertEqual(try campaign("admin", org: "P1").status, 201)

        let r = try f.call("workplace", "POST", "/v1/assessment-requests", ["member_id": f.members[0], "purpose": "discipline", "needed_by": try date(plus: 20)]).json()
        let base = "/v1/assessment-requests/\(r["id"] as! String)"
        XCTAssertEqual(try f.call("workplace", "POST", "\(base)/cancel", ["reason": "x"], headers: ["If-Match": "\"v9\""]).status, 412)
        XCTAssertEqual(try f.call("commune", "POST", "\(base)/cancel", ["reason": "x"]).status, 403)
        // Concurrent forwards: exactly one wins.
        let results = try (0..<4).map { _ in try f.call("commune", "POST", "\(base)/forward", [:]).status }
        XCTAssertEqual(results.filter { $0 == 200 }.count, 1)
        XCTAssertEqual(results.filter { $0 == 409 }.count, 3)
        let cancelled = try f.call("workplace", "POST", "\(base)/cancel", ["reason": "Đã có kết luận khác."])
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        XCTAssertEqual(try cancelled.json()["status"] as? String, "cancelled")
        XCTAssertEqual(try f.call("branch", "POST", "\(base)/submit", [:]).status, 409)
    }
}

/// Large campaigns answer 202 and are generated by the background runner.
final class AssessmentCampaignAsyncTests: XCTestCase {
    func testLargeCampaignRunsInTheBackgroundWithProgress() throws {
        let f = try ExchangeFixture(members: 6) { $0.campaignSyncLimit = 2 }
        defer { f.stop() }
        for m in f.members {
            let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": m, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)
            XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
            XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
            XCTAssertEqual(try f.call("branch", "POST", "/v1/introductions/\(id)/acknowledge", [:]).status, 200)
        }
        let due = try XCTUnwrap(try f.db.queryRow("SELECT (hcm_today() + 30)::text, extract(year FROM hcm_today())::int"))
        let started = try f.call("workplace", "POST", "/v1/assessment-campaigns", ["year": try due.decode(Int.self, 1), "due_on": try due.decode(String.self, 0)])
        XCTAssertEqual(started.status, 202, started.text)
        let location = try XCTUnwrap(started.headers["location"])
        var status = try started.json()
        let deadline = Date().addingTimeInterval(30)
        while status["status"] as? String == "running" && Date() < deadline {
            usleep(100_000)
            status = try f.call("workplace", "GET", location).json()
        }
        XCTAssertEqual(status["status"] as? String, "done")
        XCTAssertEqual((status["progress"] as? [String: Any])?["chunks_done"] as? Int, 64)
        XCTAssertEqual((status["counts"] as? [String: Any])?["created"] as? Int, 6)
        XCTAssertEqual((status["by_status"] as? [String: Int])?["requested"], 6)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM assessment_requests")?.decode(Int.self, 0), 6)
    }
}
