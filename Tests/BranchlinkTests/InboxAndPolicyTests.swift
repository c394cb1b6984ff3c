import Branchlink
import Foundation
import Postgres
import XCTest

/// What waits on whom, when it is due, and what is overdue.
final class InboxAndPolicyTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture(members: 4) }
    override func tearDown() { f.stop() }

    func testInboxOrdersOverdueFirstAndCounts() throws {
        var ids: [String] = []
        for m in f.members {
            let r = try f.call("workplace", "POST", "/v1/introductions", ["member_id": m, "commune_id": f.orgs["C1"]!])
            ids.append(try XCTUnwrap(r.json()["id"] as? String))
        }
        // Make the last one overdue and the second due later (as if sent long ago / recently).
        try f.db.execute("UPDATE introductions SET due_on = hcm_today() - 3 WHERE id = $1::uuid", ids[3])
        try f.db.execute("UPDATE introductions SET due_on = hcm_today() + 40 WHERE id = $1::uuid", ids[1])

        let r = try f.call("commune", "GET", "/v1/inbox?limit=2")
        XCTAssertEqual(r.status, 200, r.text)
        let json = try r.json()
        let items = try XCTUnwrap(json["items"] as? [[String: Any]])
        XCTAssertEqual(items.first?["id"] as? String, ids[3], "overdue first")
        XCTAssertEqual(items.first?["overdue"] as? Bool, true)
        XCTAssertEqual(items.first?["action"] as? String, "receive")
        XCTAssertEqual(items.first?["href"] as? String, "/v1/introductions/\(ids[3])")
        let counts = try XCTUnwrap(json["counts"] as? [String: Any])
        XCTAssertEqual(counts["total"] as? Int, 4)
        XCTAssertEqual(counts["overdue"] as? Int, 1)
        XCTAssertEqual((counts["by_kind"] as? [String: Int])?["introduction"], 4)

        // Follow the cursor: every item exactly once, the far-due one last.
        var seen = items.compactMap { $0["id"] as? String }
        var next = r.headers["link"].map { String($0.dropFirst().prefix { $0 != ">" }) }
        while let path = next {
            let page = try f.call("commune", "GET", path)
            seen += ((try page.json()["items"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
            next = page.headers["link"].map { String($0.dropFirst().prefix { $0 != ">" }) }
        }
        XCTAssertEqual(seen.count, 4)
        XCTAssertEqual(Set(seen), Set(ids))
        XCTAssertEqual(seen.last, ids[1])

        // The workplace waits on nothing; the viewer can look into a commune of its subtree.
        XCTAssertEqual((try f.call("workplace", "GET", "/v1/inbox").json()["counts"] as? [String: Any])?["total"] as? Int, 0)
        let viewer = try f.call("viewer", "GET", "/v1/inbox?org_id=\(f.orgs["C1"]!)&overdue=true")
        XCTAssertEqual((try viewer.json()["items"] as? [[String: Any]])?.count, 1)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/inbox?org_id=\(f.orgs["C1"]!)").status, 404)
        // Each source stands alone when filtered by kind.
        for kind in ["introduction", "change_notice", "workplace_task"] {
            XCTAssertEqual(try f.call("viewer", "GET", "/v1/inbox?kind=\(kind)&overdue=true&org_id=\(f.orgs["C1"]!)").status, 200, kind)
        }
        XCTAssertEqual(try f.call("commune", "GET", "/v1/inbox?kind=bogus").status, 400)

        // The whole inbox as CSV, overdue first like the JSON.
        let csv = try f.call("commune", "GET", "/v1/inbox", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        let lines = String(decoding: TestHTTP.dechunk(csv.body), as: UTF8.self).split(separator: "\r\n")
        XCTAssertEqual(lines.first, "\u{FEFF}kind,id,action,awaiting_org_id,due_on,overdue,member_id,member_full_name,href")
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines[1].contains(ids[3]) && lines[1].contains(",true,"))
    }

    /// A gzipped representation carries its own tag ("v0-gzip"); echoing it still revalidates.
    func testGzippedETagRevalidates() throws {
        let r = try f.call("viewer", "GET", "/v1/policies/\(f.orgs["C1"]!)", headers: ["Accept-Encoding": "gzip"])
        XCTAssertEqual(r.headers["content-encoding"], "gzip")
        let tag = try XCTUnwrap(r.headers["etag"])
        XCTAssertTrue(tag.hasSuffix("-gzip\""), tag)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/policies/\(f.orgs["C1"]!)", headers: ["If-None-Match": tag]).status, 304)
    }

    func testPolicyInheritanceAndDueDates() throws {
        let before = try f.call("viewer", "GET", "/v1/policies/\(f.orgs["C1"]!)")
        XCTAssertEqual(before.status, 200, before.text)
        let step = try XCTUnwrap((try before.json()["steps"] as? [String: Any])?["introduction_receive"] as? [String: Any])
        XCTAssertEqual(step["days"] as? Int, 10)
        XCTAssertEqual(step["inherited_from_org_id"] as? String, "00000000-0000-4000-8000-000000000001")

        let tagBefore = try XCTUnwrap(before.headers["etag"])
        // Only boards of a province or above set policies; a commune officer cannot.
        XCTAssertEqual(try f.call("commune", "PUT", "/v1/policies/\(f.orgs["C1"]!)", ["introduction_receive": 3]).status, 403)
        let set = try f.call("admin", "PUT", "/v1/policies/\(f.orgs["P1"]!)", ["introduction_receive": 3, "notice_acknowledge": NSNull()])
        XCTAssertEqual(set.status, 200, set.text)
        let bad = try f.call("admin", "PUT", "/v1/policies/\(f.orgs["P1"]!)", ["introduction_receive": 0, "bogus": 1])
        XCTAssertEqual(bad.status, 422)
        XCTAssertEqual(Set(((try bad.json()["errors"] as? [[String: Any]]) ?? []).compactMap { $0["pointer"] as? String }),
                       ["/introduction_receive", "/bogus"])

        let after = try f.call("commune", "GET", "/v1/policies/\(f.orgs["C1"]!)")
        let s2 = try XCTUnwrap((try after.json()["steps"] as? [String: Any])?["introduction_receive"] as? [String: Any])
        // The commune's effective values changed through its province: its old tag is stale.
        XCTAssertEqual(try f.call("commune", "GET", "/v1/policies/\(f.orgs["C1"]!)", headers: ["If-None-Match": tagBefore]).status, 200)
        XCTAssertEqual(s2["days"] as? Int, 3)
        XCTAssertEqual(s2["inherited_from_org_id"] as? String, f.orgs["P1"])

        // New introductions to C1 are now due in 3 days (computed when they start waiting).
        let intro = try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[0], "commune_id": f.orgs["C1"]!]).json()
        let expected = try f.db.queryRow("SELECT (hcm_today() + 3)::text")!.decode(String.self, 0)
        XCTAssertEqual(intro["due_on"] as? String, expected)
    }
}
