import Branchlink
import Foundation
import Postgres
import XCTest

/// Exchanges in every state the reports count, written with SQL over ExchangeFixture's province
/// (P1 → C1 {B1, B1b}, C2 {B2}, W1 {W1a}, W2), so that every expected count can be derived by
/// hand (ReportsTests lists them). Due dates are relative to hcm_today(): `due` days from today,
/// negative = overdue by that many days.
///
/// members (workplace → residence): m0, m1, m2 W1a → C1; m3 W1a → C1 (activities-exempt);
///   m4 W1a → C1 (introduction-exempt); m5 W2 → C2; m6 W2 → C1
/// introductions: i0 m0 W1→C1/B1 active; i1 m1 W1→C1 sent (awaits C1, -10); i2 m2 W1→C1/B1
///   assigned (awaits B1, +5); i3 m3 W1→C1/B1b active (exemption marker); i4 m5 W2→C2 received
///   (awaits C2, -9); i5 m6 W2→C1 returned
/// change notices: n0 on i0 sent (awaits B1, -8); n1 on i3 acknowledged
/// residence report: rr0 on i0 B1→W1 sent (awaits W1, -7); workplace task t0 m5 (awaits W2, -6)
/// requests of this year: r0 annual m0 W1/C1 requested (awaits C1, -5); r1 annual m2 W1/C1/B1
///   submitted (awaits C1, +3) with a meeting with a Front attendee and a form (grades 1,1,2,1,3,
///   commend); r2 annual m5 W2/C2/B2 closed, meeting without Front attendee, form (all 2, none);
///   r3 confidential appointment m0 W1/C1/B1 forwarded (awaits B1, -4); r4 annual m1 of last year
///   closed (counted in no report of this year).
final class ReportsFixture {
    let f: ExchangeFixture
    var m: [String] = []
    var ids: [String: String] = [:]

    init() throws {
        f = try ExchangeFixture(members: 3)
        m = f.members
        m.append(try f.addMember(3, exemption: "activities"))
        m.append(try f.addMember(4, exemption: "introduction"))
        m.append(try f.addMember(5, exemption: "none", workplace: "W2", commune: "C2"))
        m.append(try f.addMember(6, exemption: "none", workplace: "W2", commune: "C1"))
        let o = f.orgs
        try intro("i0", m[0], "W1", "C1", "B1", "active")
        try intro("i1", m[1], "W1", "C1", nil, "sent", awaiting: "C1", due: -10)
        try intro("i2", m[2], "W1", "C1", "B1", "assigned", awaiting: "B1", due: 5)
        try intro("i3", m[3], "W1", "C1", "B1b", "active", marker: true)
        try intro("i4", m[5], "W2", "C2", nil, "received", awaiting: "C2", due: -9)
        try intro("i5", m[6], "W2", "C1", nil, "returned")
        try notice("n0", m[0], "i0", "W1", "C1", "B1", "sent", awaiting: "B1", due: -8)
        try notice("n1", m[3], "i3", "W1", "C1", "B1b", "acknowledged")
        ids["rr0"] = UUID().uuidString.lowercased()
        try f.db.execute("""
            INSERT INTO residence_reports (id, member_id, introduction_id, kind, summary, workplace_id, commune_id, branch_id,
                workplace_path, commune_path, branch_path, status, awaiting_org_id, due_on)
            SELECT $1::uuid, $2::uuid, $3::uuid, 'commendation', 'Tích cực', w.id, c.id, b.id, w.path, c.path, b.path, 'sent', w.id, hcm_today() - 7
            FROM organizations w, organizations c, organizations b WHERE w.id = $4::uuid AND c.id = $5::uuid AND b.id = $6::uuid
            """, ids["rr0"]!, m[0], ids["i0"]!, o["W1"]!, o["C1"]!, o["B1"]!)
        ids["t0"] = UUID().uuidString.lowercased()
        try f.db.execute("""
            INSERT INTO workplace_tasks (id, kind, member_id, source_notice_id, awaiting_org_id, due_on)
            VALUES ($1::uuid, 'reintroduce_after_transfer', $2::uuid, $3::uuid, $4::uuid, hcm_today() - 6)
            """, ids["t0"]!, m[5], ids["n1"]!, o["W2"]!)
        let campaign = UUID().uuidString.lowercased()
        try f.db.execute("""
            INSERT INTO assessment_campaigns (id, year, org_id, org_path, due_on, status)
            SELECT $1::uuid, extract(year FROM hcm_today())::int, id, path, hcm_today() + 30, 'done' FROM organizations WHERE id = $2::uuid
            """, campaign, o["P1"]!)
        ids["campaign"] = campaign
        try meeting("mt0", "B1", front: 1)
        try meeting("mt1", "B2", front: 0)
        try request("r0", m[0], "i0", "W1", "C1", nil, "requested", awaiting: "C1", due: -5)
        try request("r1", m[2], "i2", "W1", "C1", "B1", "submitted", awaiting: "C1", due: 3, meeting: "mt0")
        try request("r2", m[5], "i4", "W2", "C2", "B2", "closed", meeting: "mt1")
        try request("r3", m[0], "i0", "W1", "C1", "B1", "forwarded", awaiting: "B1", due: -4, purpose: "appointment", confidential: true)
        try request("r4", m[1], "i1", "W1", "C1", nil, "closed", lastYear: true)
        try form("r1", grades: ["1": 1, "2": 1, "3": 2, "4": 1, "5": 3], proposal: "commend")
        try form("r2", grades: ["1": 2, "2": 2, "3": 2, "4": 2, "5": 2], proposal: "none")
    }

    func stop() { f.stop() }

    func intro(_ key: String, _ member: String, _ w: String, _ c: String, _ b: String?, _ status: String, marker: Bool = false,
               awaiting: String? = nil, due: Int = 0) throws {
        let id = UUID().uuidString.lowercased()
        ids[key] = id
        try f.db.execute("""
            INSERT INTO introductions (id, number, year, member_id, workplace_id, commune_id, branch_id, workplace_path, commune_path, branch_path,
                status, exemption_marker, awaiting_org_id, due_on)
            SELECT $1::uuid, $2, 2026, $3::uuid, w.id, c.id, b.id, w.path, c.path, b.path, $6, $7::bool, $8::text::uuid,
                   CASE WHEN $8::text IS NULL THEN NULL ELSE hcm_today() + $9::int END
            FROM organizations w CROSS JOIN organizations c LEFT JOIN organizations b ON b.id = $10::text::uuid
            WHERE w.id = $4::uuid AND c.id = $5::uuid
            """, id, "\(key)-GGT", member, f.orgs[w]!, f.orgs[c]!, status, marker, awaiting.map { f.orgs[$0]! }, due, b.map { f.orgs[$0]! })
    }

    func notice(_ key: String, _ member: String, _ intro: String, _ w: String, _ c: String, _ b: String, _ status: String,
                awaiting: String? = nil, due: Int = 0) throws {
        let id = UUID().uuidString.lowercased()
        ids[key] = id
        try f.db.execute("""
            INSERT INTO change_notices (id, member_id, introduction_id, kind, effective_on, status, workplace_id, commune_id, branch_id,
                workplace_path, commune_path, branch_path, awaiting_org_id, due_on)
            SELECT $1::uuid, $2::uuid, $3::uuid, 'position_change', hcm_today(), $4, w.id, c.id, b.id, w.path, c.path, b.path, $8::text::uuid,
                   CASE WHEN $8::text IS NULL THEN NULL ELSE hcm_today() + $9::int END
            FROM organizations w, organizations c, organizations b WHERE w.id = $5::uuid AND c.id = $6::uuid AND b.id = $7::uuid
            """, id, member, ids[intro]!, status, f.orgs[w]!, f.orgs[c]!, f.orgs[b]!, awaiting.map { f.orgs[$0]! }, due)
    }

    func meeting(_ key: String, _ branch: String, front: Int) throws {
        let id = UUID().uuidString.lowercased()
        ids[key] = id
        try f.db.execute("""
            INSERT INTO assessment_meetings (id, branch_id, commune_id, branch_path, commune_path, held_on, front_attendees)
            SELECT $1::uuid, b.id, c.id, b.path, c.path, hcm_today() - 1, $3::int FROM organizations b JOIN organizations c ON c.id = b.parent_id
            WHERE b.id = $2::uuid
            """, id, f.orgs[branch]!, front)
    }

    func request(_ key: String, _ member: String, _ intro: String, _ w: String, _ c: String, _ b: String?, _ status: String,
                 awaiting: String? = nil, due: Int = 0, meeting: String? = nil, purpose: String = "annual", confidential: Bool = false,
                 lastYear: Bool = false) throws {
        let id = UUID().uuidString.lowercased()
        ids[key] = id
        try f.db.execute("""
            INSERT INTO assessment_requests (id, member_id, introduction_id, purpose, year, campaign_id, confidential, form_variant, form_version,
                needed_by, requester_org_id, commune_id, branch_id, status, awaiting_org_id, due_on, meeting_id)
            VALUES ($1::uuid, $2::uuid, $3::uuid, $4, extract(year FROM hcm_today())::int - $5::int, $6::text::uuid, $7::bool, 'A', 1,
                    hcm_today() + 30, $8::uuid, $9::uuid, $10::text::uuid, $11, $12::text::uuid,
                    CASE WHEN $12::text IS NULL THEN NULL ELSE hcm_today() + $13::int END, $14::text::uuid)
            """, id, member, ids[intro]!, purpose, lastYear ? 1 : 0, purpose == "annual" ? ids["campaign"] : nil, confidential,
            f.orgs[w]!, f.orgs[c]!, b.map { f.orgs[$0]! }, status, awaiting.map { f.orgs[$0]! }, due, meeting.map { ids[$0]! })
    }

    func form(_ request: String, grades: [String: Int], proposal: String) throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: grades, options: [.sortedKeys]), as: UTF8.self)
        try f.db.execute("""
            INSERT INTO assessment_forms (request_id, variant, template_version, grades, proposal) VALUES ($1::uuid, 'A', 1, $2::jsonb, $3)
            """, ids[request]!, json, proposal)
    }
}
