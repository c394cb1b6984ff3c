import Branchlink
import Foundation
import Postgres
import XCTest

/// The pilot province's assessments: every state, forms that match their state, meetings with a
/// Front attendee wherever a form exists, variant B and confidential on-demand requests, residence
/// meetings and reports; loaded once.
final class DemoAssessmentsTests: XCTestCase {
    func testEveryStateWithConsistentFormsMeetingsAndIdempotence() throws {
        let t = try TestApp()
        defer { t.stop() }
        let db = try Connection(t.databaseURL, statementTimeoutMilliseconds: 0)
        let a = try DemoLoader.load(db)[0].assessments
        XCTAssertTrue(a.loaded)
        for state in ["requested", "forwarded", "sent_back", "submitted", "confirmed", "closed", "cancelled"] {
            XCTAssertGreaterThan(a.requests[state, default: 0], 0, "no request \(state): \(a.requests)")
        }
        func count(_ sql: String) throws -> Int { try XCTUnwrap(db.queryRow(sql)).decode(Int.self, 0) }
        // The campaign counted what it created; annual requests only for members without exemption.
        XCTAssertEqual(try count("SELECT created FROM assessment_campaigns"), try count("SELECT count(*) FROM assessment_requests WHERE purpose = 'annual'"))
        XCTAssertGreaterThan(try count("SELECT skipped_exempt FROM assessment_campaigns"), 0)
        XCTAssertEqual(try count("""
            SELECT count(*) FROM assessment_requests r JOIN members m ON m.id = r.member_id WHERE r.purpose = 'annual' AND m.exemption <> 'none'
            """), 0)
        // Complete forms (five grades and a proposal) for everything submitted or beyond; a meeting
        // with a Front attendee behind every one of them.
        XCTAssertEqual(try count("""
            SELECT count(*) FROM assessment_requests r LEFT JOIN assessment_forms f ON f.request_id = r.id
            LEFT JOIN assessment_meetings g ON g.id = r.meeting_id
            WHERE r.status IN ('submitted', 'confirmed', 'closed')
              AND (f.request_id IS NULL OR f.proposal IS NULL OR (SELECT count(*) FROM jsonb_object_keys(f.grades)) <> 5 OR g.front_attendees < 1)
            """), 0)
        XCTAssertGreaterThan(try count("SELECT count(*) FROM assessment_forms f JOIN assessment_requests r ON r.id = f.request_id WHERE r.status = 'forwarded' AND f.proposal IS NULL"), 0, "drafts")
        XCTAssertEqual(try count("SELECT count(*) FROM assessment_requests WHERE status IN ('forwarded', 'submitted', 'confirmed', 'closed') AND branch_id IS NULL"), 0)
        XCTAssertGreaterThan(try count("SELECT count(*) FROM assessment_requests WHERE due_on < hcm_today()"), 0, "some overdue")
        XCTAssertGreaterThan(try count("SELECT count(*) FROM assessment_requests WHERE form_variant = 'B' AND confidential"), 0)
        XCTAssertGreaterThan(try count("SELECT count(*) FROM assessment_requests WHERE form_variant = 'B' AND NOT confidential"), 0)
        XCTAssertEqual(try count("SELECT count(*) FROM assessment_meetings"), a.meetings)
        XCTAssertGreaterThan(a.residenceMeetings, 0)
        XCTAssertGreaterThan(a.residenceReports, 0)
        XCTAssertGreaterThan(try count("SELECT count(*) FROM residence_meeting_attendance WHERE status = 'absent'"), 0)
        XCTAssertGreaterThan(try count("SELECT count(*) FROM residence_reports WHERE status = 'sent'"), 0)
        let requests = try count("SELECT count(*) FROM assessment_requests")
        XCTAssertFalse(try DemoLoader.load(db)[0].assessments.loaded)
        XCTAssertEqual(try count("SELECT count(*) FROM assessment_requests"), requests)
    }
}
