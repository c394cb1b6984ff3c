import Branchlink
import Foundation
import XCTest

/// The introduction path over HTTP with one token per side.
final class IntroductionFlowTests: XCTestCase {
    var f: ExchangeFixture!

    override func setUpWithError() throws { f = try ExchangeFixture() }
    override func tearDown() { f.stop() }

    func introduce(_ member: String, commune: String = "C1") throws -> [String: Any] {
        let r = try f.call("workplace", "POST", "/v1/introductions", ["member_id": member, "commune_id": f.orgs[commune]!])
        XCTAssertEqual(r.status, 201, r.text)
        return try r.json()
    }

    func testIntroduceReceiveAssignAcknowledge() throws {
        let intro = try introduce(f.members[0])
        let id = try XCTUnwrap(intro["id"] as? String)
        XCTAssertEqual(intro["status"] as? String, "sent")
        XCTAssertEqual(intro["awaiting_org_id"] as? String, f.orgs["C1"])
        XCTAssertNotNil(intro["due_on"] as? String)
        XCTAssertEqual(intro["overdue"] as? Bool, false)
        XCTAssertTrue((intro["number"] as? String)?.hasSuffix("-GGT/ĐU") ?? false)

        // Only the commune receives; the branch is not assigned yet and cannot act.
        XCTAssertEqual(try f.call("workplace", "POST", "/v1/introductions/\(id)/receive", [:]).status, 403)
        XCTAssertEqual(try f.call("viewer", "POST", "/v1/introductions/\(id)/receive", [:]).status, 403)
        XCTAssertEqual(try f.call("other_commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 404)
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/introductions/\(id)").status, 404)
        XCTAssertEqual(try f.call("viewer", "GET", "/v1/introductions/\(id)").status, 200)

        let received = try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:])
        XCTAssertEqual(received.status, 200, received.text)
        let again = try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:])
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(try again.json()["current_status"] as? String, "received")

        // Assigning needs a residential branch of this commune.
        let wrong = try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B2"]!])
        XCTAssertEqual(wrong.status, 422)
        let assigned = try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!])
        XCTAssertEqual(assigned.status, 200, assigned.text)
        XCTAssertEqual(try assigned.json()["awaiting_org_id"] as? String, f.orgs["B1"])

        let active = try f.call("branch", "POST", "/v1/introductions/\(id)/acknowledge", [:])
        XCTAssertEqual(active.status, 200, active.text)
        let a = try active.json()
        XCTAssertEqual(a["status"] as? String, "active")
        XCTAssertTrue(a["awaiting_org_id"] is NSNull)

        // One live introduction per member.
        let dup = try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[0], "commune_id": f.orgs["C1"]!])
        XCTAssertEqual(dup.status, 409)
        XCTAssertEqual(try dup.json()["code"] as? String, "live_introduction_exists")

        // Lists are scoped: the other commune sees nothing.
        let mine = try f.call("commune", "GET", "/v1/introductions?status=active")
        XCTAssertEqual((try mine.json()["items"] as? [[String: Any]])?.count, 1)
        // LIKE wildcards in q are literal: "%" matches no name.
        XCTAssertEqual((try f.call("commune", "GET", "/v1/introductions?q=%25").json()["items"] as? [[String: Any]])?.count, 0)
        let theirs = try f.call("other_commune", "GET", "/v1/introductions")
        XCTAssertEqual((try theirs.json()["items"] as? [[String: Any]])?.count, 0)
    }

    func testReturnThenReintroduceAndWithdraw() throws {
        let first = try XCTUnwrap(try introduce(f.members[1])["id"] as? String)
        let returned = try f.call("commune", "POST", "/v1/introductions/\(first)/return", ["reason_code": "not_resident"])
        XCTAssertEqual(returned.status, 200, returned.text)
        XCTAssertEqual(try returned.json()["status"] as? String, "returned")
        let second = try XCTUnwrap(try introduce(f.members[1])["id"] as? String)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(second)/withdraw", ["reason": "x"]).status, 403)
        let withdrawn = try f.call("workplace", "POST", "/v1/introductions/\(second)/withdraw", ["reason": "Nhập sai địa chỉ"])
        XCTAssertEqual(try withdrawn.json()["status"] as? String, "withdrawn")
    }

    func testExemptMembersAndValidation() throws {
        let exempt = try f.addMember(50, exemption: "introduction")
        let r = try f.call("workplace", "POST", "/v1/introductions", ["member_id": exempt, "commune_id": f.orgs["C1"]!])
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(try r.json()["code"] as? String, "member_exempt_from_introduction")

        let activities = try f.addMember(51, exemption: "activities")
        XCTAssertEqual(try introduce(activities)["exemption_marker"] as? Bool, true)

        let bad = try f.call("workplace", "POST", "/v1/introductions", ["member_id": "nope", "commune_id": f.orgs["W1"]!, "extra": 1])
        XCTAssertEqual(bad.status, 422)
        let pointers = Set(((try bad.json()["errors"] as? [[String: Any]]) ?? []).compactMap { $0["pointer"] as? String })
        XCTAssertEqual(pointers, ["/member_id", "/extra"])
        let notCommune = try f.call("workplace", "POST", "/v1/introductions", ["member_id": f.members[2], "commune_id": f.orgs["W1"]!])
        XCTAssertEqual(try notCommune.json()["code"] as? String, "invalid_commune")
        // A residence-side account cannot introduce.
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions", ["member_id": f.members[2], "commune_id": f.orgs["C1"]!]).status, 403)
    }

    func testTwentyConcurrentReceivesExactlyOneWins() throws {
        let id = try XCTUnwrap(try introduce(f.members[2])["id"] as? String)
        let statuses = ConcurrentStatuses()
        let port = f.t.port, token = f.tokens["commune"]!
        DispatchQueue.concurrentPerform(iterations: 20) { _ in
            let s = (try? TestHTTP.request(port: port, method: "POST", path: "/v1/introductions/\(id)/receive",
                                           headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                                           body: Array("{}".utf8)).status) ?? -1
            statuses.append(s)
        }
        XCTAssertEqual(statuses.all.filter { $0 == 200 }.count, 1, "\(statuses.all)")
        XCTAssertEqual(statuses.all.filter { $0 == 409 }.count, 19, "\(statuses.all)")
    }

    func testTwentyConcurrentCreatesWithOneIdempotencyKeyMakeOneIntroduction() throws {
        let statuses = ConcurrentStatuses()
        let port = f.t.port, token = f.tokens["workplace"]!
        let body = Array(try JSONSerialization.data(withJSONObject: ["member_id": f.members[0], "commune_id": f.orgs["C1"]!]))
        DispatchQueue.concurrentPerform(iterations: 20) { _ in
            let s = (try? TestHTTP.request(port: port, method: "POST", path: "/v1/introductions",
                                           headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json",
                                                     "Idempotency-Key": "intro-\(port)"], body: body).status) ?? -1
            statuses.append(s)
        }
        // Every answer is the first one (201, replayed) or "still running" (409); never a second row.
        XCTAssertTrue(statuses.all.allSatisfy { $0 == 201 || $0 == 409 }, "\(statuses.all)")
        XCTAssertGreaterThanOrEqual(statuses.all.filter { $0 == 201 }.count, 1)
        let rows = try f.db.queryRow("SELECT count(*) FROM introductions WHERE member_id = $1::uuid", f.members[0])!.decode(Int.self, 0)
        XCTAssertEqual(rows, 1)
        let replay = try TestHTTP.request(port: port, method: "POST", path: "/v1/introductions",
                                          headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json",
                                                    "Idempotency-Key": "intro-\(port)"], body: body)
        XCTAssertEqual(replay.status, 201)
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
    }

    func testBatch() throws {
        var items: [[String: Any]] = f.members.map { ["member_id": $0, "commune_id": f.orgs["C1"]!] }
        items.append(["member_id": f.members[0], "commune_id": f.orgs["C1"]!])  // duplicate in the same batch
        items.append(["member_id": "x"])
        let r = try f.call("workplace", "POST", "/v1/introductions/batch", ["items": items])
        XCTAssertEqual(r.status, 200, r.text)
        let json = try r.json()
        XCTAssertEqual(json["created"] as? Int, 3)
        XCTAssertEqual(json["failed"] as? Int, 2)
        let results = try XCTUnwrap(json["results"] as? [[String: Any]])
        XCTAssertEqual(results[3]["status"] as? Int, 409)
        XCTAssertEqual((results[4]["errors"] as? [[String: Any]])?.first?["pointer"] as? String, "/items/4/member_id")
    }
}

final class ConcurrentStatuses: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func append(_ v: Int) { lock.withLock { values.append(v) } }
    var all: [Int] { lock.withLock { values } }
}
