import Branchlink
import Foundation
import XCTest

/// `GET /v1/reports/coverage` and `GET /v1/reports/overdue` over ReportsFixture, whose comment
/// lists the data every expected number below is derived from.
final class ReportsTests: XCTestCase {
    var r: ReportsFixture!
    var f: ExchangeFixture { r.f }

    override func setUpWithError() throws { r = try ReportsFixture() }
    override func tearDown() { r.stop() }

    /// Every counter of a row, flattened ("introductions.pending.assign"); NSNull for withheld ones.
    func flat(_ row: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        func walk(_ prefix: String, _ v: Any) {
            if let d = v as? [String: Any] {
                for (k, x) in d { walk(prefix.isEmpty ? k : "\(prefix).\(k)", x) }
            } else { out[prefix] = v }
        }
        for (k, v) in row where k != "org" && k != "links" { walk(k, v) }
        return out
    }

    /// Compares every column: those not named in `expected` must be 0.
    func check(_ row: [String: Any], _ expected: [String: Int?], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let got = flat(row)
        let columns = Set(got.keys)
        XCTAssertEqual(columns.count, 44, "\(label): every column present", file: file, line: line)
        for key in columns.sorted() {
            let want = expected[key] ?? 0
            if let want {
                XCTAssertEqual(got[key] as? Int, want, "\(label) \(key)", file: file, line: line)
            } else {
                XCTAssertTrue(got[key] is NSNull, "\(label) \(key) withheld", file: file, line: line)
            }
        }
        for key in expected.keys { XCTAssertTrue(columns.contains(key), "\(label): unknown column \(key)", file: file, line: line) }
    }

    func report(_ who: String, _ query: String) throws -> [String: Any] {
        let res = try f.call(who, "GET", "/v1/reports/coverage?\(query)")
        XCTAssertEqual(res.status, 200, res.text)
        return try res.json()
    }

    func rows(_ report: [String: Any]) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for row in report["rows"] as? [[String: Any]] ?? [] {
            out[(row["org"] as? [String: Any])?["code"] as? String ?? "?"] = row
        }
        return out
    }

    static let c1: [String: Int?] = [
        "members.working": 6, "members.exempt.activities": 1, "members.exempt.introduction": 1,
        "introductions.introduced": 4, "introductions.active": 2, "introductions.pending.receive": 1,
        "introductions.pending.acknowledge": 1, "introductions.returned": 1,
        "change_notices.sent": 2, "change_notices.acknowledged": 1, "change_notices.overdue": 1,
        "annual_requests.requested": 1, "annual_requests.submitted": 1, "on_demand_requests.forwarded": 1, "on_demand_requests.confidential": 1,
        "forms.recorded": 1, "forms.with_front_meeting": 1, "forms.grades.1": 3, "forms.grades.2": 1, "forms.grades.3": 1,
        "forms.proposals.commend": 1,
        "overdue.total": 4, "overdue.by_step.introduction_receive": 1, "overdue.by_step.notice_acknowledge": 1,
        "overdue.by_step.request_forward": 1, "overdue.by_step.form_submit": 1,
    ]

    func testProvinceByChildCountsEveryColumn() throws {
        let rep = try report("viewer", "org_id=\(f.orgs["P1"]!)")
        XCTAssertEqual(rep["group_by"] as? String, "child")
        let byCode = rows(rep)
        XCTAssertEqual(Set(byCode.keys), ["C1", "C2"], "residence side: the communes, not the workplace committees")
        check(try XCTUnwrap(byCode["C1"]), Self.c1, "C1")
        check(try XCTUnwrap(byCode["C2"]), [
            "members.working": 1, "introductions.introduced": 1, "introductions.pending.assign": 1,
            "annual_requests.closed": 1, "forms.recorded": 1, "forms.grades.2": 5, "forms.proposals.none": 1,
            "overdue.total": 1, "overdue.by_step.introduction_assign": 1,
        ], "C2")
        check(try XCTUnwrap(rep["total"] as? [String: Any]), [
            "members.working": 7, "members.exempt.activities": 1, "members.exempt.introduction": 1,
            "introductions.introduced": 5, "introductions.active": 2, "introductions.pending.receive": 1, "introductions.pending.assign": 1,
            "introductions.pending.acknowledge": 1, "introductions.returned": 1,
            "change_notices.sent": 2, "change_notices.acknowledged": 1, "change_notices.overdue": 1,
            "annual_requests.requested": 1, "annual_requests.submitted": 1, "annual_requests.closed": 1,
            "on_demand_requests.forwarded": 1, "on_demand_requests.confidential": 1,
            "forms.recorded": 2, "forms.with_front_meeting": 1, "forms.grades.1": 3, "forms.grades.2": 6, "forms.grades.3": 1,
            "forms.proposals.commend": 1, "forms.proposals.none": 1,
            "overdue.total": 7, "overdue.by_step.introduction_receive": 1, "overdue.by_step.introduction_assign": 1,
            "overdue.by_step.notice_acknowledge": 1, "overdue.by_step.report_acknowledge": 1, "overdue.by_step.reintroduce": 1,
            "overdue.by_step.request_forward": 1, "overdue.by_step.form_submit": 1,
        ], "P1 total")
        let links = try XCTUnwrap(try XCTUnwrap(byCode["C1"])["links"] as? [String: String])
        let c1 = f.orgs["C1"]!
        XCTAssertEqual(links["introductions"], "/v1/introductions?commune_id=\(c1)")
        XCTAssertTrue(links["report"]!.hasPrefix("/v1/reports/coverage?org_id=\(c1)&year="))
        XCTAssertEqual(links["overdue"], "/v1/reports/overdue?org_id=\(c1)")
        // The drill-down list agrees with the row: C1's live and ended introductions.
        let listed = try f.call("viewer", "GET", links["introductions"]!).json()["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(listed.count, 5)
        // Last year's report holds only r4 among the requests.
        let lastYear = try XCTUnwrap(try f.db.queryRow("SELECT extract(year FROM hcm_today())::int - 1")).decode(Int.self, 0)
        let old = flat(try XCTUnwrap(try report("viewer", "org_id=\(f.orgs["P1"]!)&year=\(lastYear)")["total"] as? [String: Any]))
        XCTAssertEqual(old["annual_requests.closed"] as? Int, 1)
        XCTAssertEqual(old["annual_requests.requested"] as? Int, 0)
        XCTAssertEqual(old["introductions.introduced"] as? Int, 5, "introductions are not by year")
    }

    func testCommuneLevelRowsAreItsBranchesAndHideIntroductionExemptMembers() throws {
        // The commune officer's own report (no org_id): rows are C1's residential branches.
        let rep = try report("commune", "")
        XCTAssertEqual(rep["org_id"] as? String, f.orgs["C1"])
        let byCode = rows(rep)
        XCTAssertEqual(Set(byCode.keys), ["B1", "B1b"])
        check(try XCTUnwrap(byCode["B1"]), [
            "members.working": 2, "members.exempt.introduction": nil,
            "introductions.introduced": 2, "introductions.active": 1, "introductions.pending.acknowledge": 1,
            "change_notices.sent": 1, "change_notices.overdue": 1,
            "annual_requests.submitted": 1, "on_demand_requests.forwarded": 1, "on_demand_requests.confidential": 1,
            "forms.recorded": 1, "forms.with_front_meeting": 1, "forms.grades.1": 3, "forms.grades.2": 1, "forms.grades.3": 1,
            "forms.proposals.commend": 1,
            "overdue.total": 2, "overdue.by_step.notice_acknowledge": 1, "overdue.by_step.form_submit": 1,
        ], "B1")
        check(try XCTUnwrap(byCode["B1b"]), [
            "members.working": 1, "members.exempt.activities": 1, "members.exempt.introduction": nil,
            "introductions.introduced": 1, "introductions.active": 1, "change_notices.sent": 1, "change_notices.acknowledged": 1,
        ], "B1b")
        var total = Self.c1
        total["members.working"] = 5   // m4 (introduction-exempt) is invisible to the residence side
        total["members.exempt.introduction"] = .some(nil)
        check(try XCTUnwrap(rep["total"] as? [String: Any]), total, "C1 total (commune officer)")
        XCTAssertEqual((try XCTUnwrap(byCode["B1"])["links"] as? [String: String])?["introductions"], "/v1/introductions?branch_id=\(f.orgs["B1"]!)")
    }

    func testWorkplaceSide() throws {
        let rep = try report("viewer", "org_id=\(f.orgs["P1"]!)&group_by=workplace")
        let byCode = rows(rep)
        XCTAssertEqual(Set(byCode.keys), ["W1", "W2"])
        check(try XCTUnwrap(byCode["W1"]), [
            "members.working": 5, "members.exempt.activities": 1, "members.exempt.introduction": 1,
            "introductions.introduced": 4, "introductions.active": 2, "introductions.pending.receive": 1, "introductions.pending.acknowledge": 1,
            "change_notices.sent": 2, "change_notices.acknowledged": 1, "change_notices.overdue": 1,
            "annual_requests.requested": 1, "annual_requests.submitted": 1, "on_demand_requests.forwarded": 1, "on_demand_requests.confidential": 1,
            "forms.recorded": 1, "forms.with_front_meeting": 1, "forms.grades.1": 3, "forms.grades.2": 1, "forms.grades.3": 1,
            "forms.proposals.commend": 1, "overdue.total": 1, "overdue.by_step.report_acknowledge": 1,
        ], "W1")
        check(try XCTUnwrap(byCode["W2"]), [
            "members.working": 2, "introductions.introduced": 1, "introductions.pending.assign": 1, "introductions.returned": 1,
            "annual_requests.closed": 1, "forms.recorded": 1, "forms.grades.2": 5, "forms.proposals.none": 1,
            "overdue.total": 1, "overdue.by_step.reintroduce": 1,
        ], "W2")
        let total = flat(try XCTUnwrap(rep["total"] as? [String: Any]))
        XCTAssertEqual(total["members.working"] as? Int, 7)
        XCTAssertEqual(total["introductions.introduced"] as? Int, 5)
        XCTAssertEqual(total["overdue.total"] as? Int, 7)
        XCTAssertEqual((try XCTUnwrap(byCode["W1"])["links"] as? [String: String])?["assessment_requests"]?.hasPrefix(
            "/v1/assessment-requests?requester_org_id=\(f.orgs["W1"]!)&year="), true)
        // A workplace committee's own report by workplace: its branch W1a is the row.
        let w1 = rows(try report("workplace", "group_by=workplace"))
        XCTAssertEqual(Set(w1.keys), ["W1a"])
        XCTAssertEqual(flat(try XCTUnwrap(w1["W1a"]))["members.working"] as? Int, 5)
    }

    func testScopeValidationCSVAndETag() throws {
        let c1 = f.orgs["C1"]!
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/reports/coverage?org_id=\(c1)").status, 404)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/reports/coverage?org_id=\(f.orgs["P1"]!)").status, 404)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/reports/coverage?org_id=\(UUID().uuidString)").status, 404)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/reports/coverage?org_id=nope").status, 400)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/reports/coverage?year=1999").status, 400)
        XCTAssertEqual(try f.call("commune", "GET", "/v1/reports/coverage?group_by=branch").status, 400)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/reports/overdue?org_id=\(c1)").status, 404)

        let first = try f.call("viewer", "GET", "/v1/reports/coverage?org_id=\(f.orgs["P1"]!)")
        let firstTag = try XCTUnwrap(first.headers["etag"])
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/reports/coverage?org_id=\(f.orgs["P1"]!)", headers: ["If-None-Match": firstTag]).status, 304)
        // Member counts follow the member table (migration 0017's triggers): m0 becomes
        // activities-exempt, m5 moves from C2 to C1, a new member joins W2 living in C2.
        try f.db.execute("UPDATE members SET exemption = 'activities', exemption_ground = 'HD 33' WHERE id = $1::uuid", r.m[0])
        try f.db.execute("UPDATE members SET residence_commune_id = $2::uuid WHERE id = $1::uuid", r.m[5], c1)
        try f.db.execute("UPDATE members SET full_name = 'Tên mới' WHERE id = $1::uuid", r.m[1])
        _ = try f.addMember(7, exemption: "none", workplace: "W2", commune: "C2")
        let moved = rows(try report("viewer", "org_id=\(f.orgs["P1"]!)"))
        XCTAssertEqual(flat(try XCTUnwrap(moved["C1"]))["members.working"] as? Int, 7)
        XCTAssertEqual(flat(try XCTUnwrap(moved["C1"]))["members.exempt.activities"] as? Int, 2)
        XCTAssertEqual(flat(try XCTUnwrap(moved["C2"]))["members.working"] as? Int, 1)
        let sending = rows(try report("viewer", "org_id=\(f.orgs["P1"]!)&group_by=workplace"))
        XCTAssertEqual(flat(try XCTUnwrap(sending["W2"]))["members.working"] as? Int, 3)
        XCTAssertEqual(flat(try XCTUnwrap(sending["W1"]))["members.exempt.activities"] as? Int, 2)
        try f.db.execute("DELETE FROM members WHERE party_card_number LIKE '93000007%'")
        XCTAssertEqual(flat(try XCTUnwrap(rows(try report("viewer", "org_id=\(f.orgs["P1"]!)&group_by=workplace"))["W2"]))["members.working"] as? Int, 2)
        try f.db.execute("UPDATE members SET residence_commune_id = $2::uuid WHERE id = $1::uuid", r.m[5], f.orgs["C2"]!)
        try f.db.execute("UPDATE members SET exemption = 'none', exemption_ground = NULL WHERE id = $1::uuid", r.m[0])
        let tag = try XCTUnwrap(try f.call("viewer", "GET", "/v1/reports/coverage?org_id=\(f.orgs["P1"]!)").headers["etag"])

        // A change moves the ETag.
        try f.db.execute("UPDATE introductions SET status = 'active', awaiting_org_id = NULL, due_on = NULL WHERE id = $1::uuid", r.ids["i2"]!)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/reports/coverage?org_id=\(f.orgs["P1"]!)", headers: ["If-None-Match": tag]).status, 200)
        // The introduction counts (migration 0018) equal a recount after the fixture's inserts, that
        // status change, and an update that moves no count.
        try f.db.execute("UPDATE introductions SET note = 'ghi chú' WHERE id = $1::uuid", r.ids["i2"]!)
        let drift = try f.db.queryRow("""
            WITH fresh AS (SELECT 'commune' AS side, commune_id AS org_id, status, exemption_marker, count(*) AS n FROM introductions GROUP BY 2, 3, 4
                           UNION ALL SELECT 'workplace', workplace_id, status, exemption_marker, count(*) FROM introductions GROUP BY 2, 3, 4),
                 kept AS (SELECT side, org_id, status, exemption_marker, n FROM introduction_counts WHERE n <> 0)
            SELECT (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT SELECT * FROM kept) a) + (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM fresh) b),
                   (SELECT count(*) FROM fresh)
            """)!
        XCTAssertEqual(try drift.decode(Int.self, 0), 0)
        XCTAssertGreaterThan(try drift.decode(Int.self, 1), 2)

        let csv = try f.call("viewer", "GET", "/v1/reports/coverage?org_id=\(f.orgs["P1"]!)", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        let body = TestHTTP.dechunk(csv.body)
        XCTAssertEqual(Array(body.prefix(3)), [0xEF, 0xBB, 0xBF])
        let lines = String(decoding: body.dropFirst(3), as: UTF8.self).split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(lines.count, 4, "header, total, C1, C2")
        let header = lines[0]
        XCTAssertEqual(header.count, 48)
        let col = try XCTUnwrap(header.firstIndex(of: "members_working"))
        let active = try XCTUnwrap(header.firstIndex(of: "introductions_active"))
        XCTAssertEqual(lines[1][2], "Tổ chức P1")
        XCTAssertEqual(lines[1][col], "7")
        XCTAssertEqual(lines[1][active], "3", "i2 became active above")
        XCTAssertEqual(lines[2][1], "C1")
        XCTAssertEqual(lines[2][col], "6")
        // The commune officer's CSV withholds the introduction-exempt count (empty cell).
        let own = try f.call("commune", "GET", "/v1/reports/coverage", headers: ["Accept": "text/csv"])
        let ownLines = String(decoding: TestHTTP.dechunk(own.body).dropFirst(3), as: UTF8.self).split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(ownLines[1][try XCTUnwrap(header.firstIndex(of: "members_exempt_introduction"))], "")
    }

    func overdue(_ who: String, _ query: String) throws -> [String: Any] {
        let res = try f.call(who, "GET", "/v1/reports/overdue?\(query)")
        XCTAssertEqual(res.status, 200, res.text)
        return try res.json()
    }

    func testOverdueListOldestFirstWithAgeAndPaging() throws {
        let p1 = f.orgs["P1"]!
        // The province viewer: everything waiting in P1 except the confidential request (it is not
        // involved in it), oldest first.
        let page1 = try overdue("viewer", "org_id=\(p1)&limit=4")
        let items1 = try XCTUnwrap(page1["items"] as? [[String: Any]])
        XCTAssertEqual(items1.map { $0["id"] as? String }, ["i1", "i4", "n0", "rr0"].map { r.ids[$0] })
        XCTAssertEqual(items1.map { $0["age_days"] as? Int }, [10, 9, 8, 7])
        XCTAssertEqual(items1.map { $0["step"] as? String }, ["introduction_receive", "introduction_assign", "notice_acknowledge", "report_acknowledge"])
        XCTAssertEqual(items1[0]["type"] as? String, "introduction")
        XCTAssertEqual((items1[0]["awaiting_org"] as? [String: Any])?["id"] as? String, f.orgs["C1"])
        XCTAssertEqual(items1[0]["href"] as? String, "/v1/introductions/\(r.ids["i1"]!)")
        let cursor = try XCTUnwrap(page1["next_cursor"] as? String)
        let page2 = try overdue("viewer", "org_id=\(p1)&limit=4&cursor=\(cursor)")
        let items2 = try XCTUnwrap(page2["items"] as? [[String: Any]])
        XCTAssertEqual(items2.map { $0["id"] as? String }, [r.ids["t0"], r.ids["r0"]])
        XCTAssertEqual(items2.map { $0["type"] as? String }, ["workplace_task", "assessment_request"])
        XCTAssertEqual(items2[0]["href"] as? String, "/v1/members/\(r.m[5])")
        XCTAssertEqual(items2.map { $0["age_days"] as? Int }, [6, 5])
        XCTAssertTrue(page2["next_cursor"] is NSNull)

        // The commune officer sees its own subtree, the confidential request included (C1 is involved).
        let own = try XCTUnwrap(try overdue("commune", "")["items"] as? [[String: Any]])
        XCTAssertEqual(own.map { $0["id"] as? String }, ["i1", "n0", "r0", "r3"].map { r.ids[$0] })
        XCTAssertEqual(own.last?["step"] as? String, "form_submit")

        let intros = try XCTUnwrap(try overdue("viewer", "org_id=\(p1)&type=introduction")["items"] as? [[String: Any]])
        XCTAssertEqual(intros.map { $0["id"] as? String }, ["i1", "i4"].map { r.ids[$0] })
        let assign = try XCTUnwrap(try overdue("viewer", "org_id=\(p1)&step=introduction_assign")["items"] as? [[String: Any]])
        XCTAssertEqual(assign.map { $0["id"] as? String }, [r.ids["i4"]])
        // Every type alone (a UNION names its columns after its first SELECT, which a type filter
        // may leave out), and a step that type never has: an empty page, not an error.
        for type in ["introduction", "change_notice", "assessment_request", "residence_report", "workplace_task"] {
            let one = try XCTUnwrap(try overdue("viewer", "org_id=\(p1)&type=\(type)")["items"] as? [[String: Any]], type)
            XCTAssertTrue(one.allSatisfy { $0["type"] as? String == type }, type)
        }
        let none = try XCTUnwrap(try overdue("viewer", "org_id=\(p1)&type=workplace_task&step=introduction_acknowledge")["items"] as? [[String: Any]])
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/reports/overdue?type=meeting").status, 400)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/reports/overdue?step=x").status, 400)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/reports/overdue?cursor=WyJ4Il0").status, 400)

        let csv = try f.call("viewer", "GET", "/v1/reports/overdue?org_id=\(p1)", headers: ["Accept": "text/csv"])
        let body = TestHTTP.dechunk(csv.body)
        XCTAssertEqual(Array(body.prefix(3)), [0xEF, 0xBB, 0xBF])
        let lines = String(decoding: body.dropFirst(3), as: UTF8.self).split(separator: "\r\n")
        XCTAssertEqual(lines.count, 7, "header and six items")
        XCTAssertTrue(lines[1].hasPrefix("introduction,\(r.ids["i1"]!),introduction_receive,sent,\(f.orgs["C1"]!),C1,"), String(lines[1]))
        XCTAssertTrue(lines[1].hasSuffix(",10,/v1/introductions/\(r.ids["i1"]!)"), String(lines[1]))
    }
}
