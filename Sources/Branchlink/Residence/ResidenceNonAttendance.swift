import Foundation
import HTTP
import Postgres

/// `GET /v1/residence-meetings/non-attendance`: the list the residence keeps of working members who
/// did not attend local meetings (domain.md §3.5). One row per current working member (live link
/// `assigned` or `active` at a branch in the caller's scope) with at least one recorded absence
/// from the branch's meetings of the year. Members exempt from residence activities (HD 33 §1.1)
/// owe no attendance (duties 3 and 4 do not apply to them), so they are never listed.
extension ResidenceMeetingRoutes {
    struct NonAttendanceFilter: Sendable {
        var branchID: UUID?
        var year: Int
    }

    static func nonAttendance(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var filter = NonAttendanceFilter(branchID: nil, year: try Deadlines.today(ctx.db).year)
        if let v = request.query("year") {
            guard v.utf8.count == 4, let y = Int(v), (2000...2100).contains(y) else {
                throw APIError.invalidParameter("year", "must be a year from 2000 to 2100")
            }
            filter.year = y
        }
        if let v = request.query("branch_id") {
            guard let id = UUID(uuidString: v) else { throw APIError.invalidParameter("branch_id", "must be a UUID") }
            // Like the meetings themselves: the branch, its commune and their ancestors.
            let row = try ctx.db.queryRow("""
                SELECT o.path::text, c.path::text FROM organizations o JOIN organizations c ON c.id = o.parent_id AND c.kind = 'commune'
                WHERE o.id = $1 AND o.kind = 'branch'
                """, id)
            let paths = try row.map { [try $0.decode(String.self, 0), try $0.decode(String.self, 1)] } ?? []
            guard paths.contains(where: { Policy.contains(p, path: $0) }) else {
                throw APIError(status: 404, code: "not_found", detail: "No residential branch with this id is visible to you.")
            }
            filter.branchID = id
        }
        if let format = TableOutput.format(request) {
            let db = SameThread(ctx.db), f = filter
            return TableOutput.stream(format, filename: "non-attendance-\(f.year)", header: NonAttendance.csvHeader) { after, limit in
                let (items, next) = try fetchNonAttendance(db.value, p, f, after: after, limit: limit)
                return (items.map(\.csvRow), next)
            }
        }
        let page = try Page(request, keyCount: 1)
        let (items, next) = try fetchNonAttendance(ctx.db, p, filter, after: page.after, limit: page.limit)
        return Page.response(request, items: try items.map { try JSONOutput.encode($0) }, nextKeys: next)
    }

    /// Keyset by member id alone: a member has at most one live introduction, hence one row. (Not by
    /// name: the cursor travels in URLs, which are logged.)
    static func fetchNonAttendance(_ db: Connection, _ p: Principal, _ f: NonAttendanceFilter, after: [String]?,
                                   limit: Int) throws -> ([NonAttendance], [String]?) {
        var conditions = ["(i.branch_path <@ $1::ltree OR i.commune_path <@ $1::ltree)", "i.status IN ('assigned', 'active')",
                          "m.exemption = 'none'", "s.absent > 0"]
        var params: [any PostgresEncodable] = [p.orgPath, f.year]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.branchID { conditions.append("i.branch_id = $\(bind(v))") }
        if let after {
            guard after.count == 1, let id = UUID(uuidString: after[0]) else {
                throw APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")
            }
            conditions.append("i.member_id > $\(bind(id))")
        }
        let rows = try db.query("""
            SELECT i.member_id, m.full_name, m.party_card_number, i.branch_id, i.commune_id, s.meetings, s.present, s.excused, s.absent
            FROM introductions i JOIN members m ON m.id = i.member_id
            CROSS JOIN LATERAL (
                SELECT count(*) AS meetings, count(*) FILTER (WHERE a.status = 'present') AS present,
                       count(*) FILTER (WHERE a.status = 'excused') AS excused, count(*) FILTER (WHERE a.status = 'absent') AS absent
                FROM residence_meetings rm
                LEFT JOIN residence_meeting_attendance a ON a.meeting_id = rm.id AND a.member_id = i.member_id
                WHERE rm.branch_id = i.branch_id AND rm.held_on >= make_date($2::int, 1, 1) AND rm.held_on < make_date($2::int + 1, 1, 1)
            ) s
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY i.member_id LIMIT \(limit + 1)
            """, parameters: params)
        let items = try rows.prefix(limit).map { r -> NonAttendance in
            let memberID = try r.decode(UUID.self, 0).lower
            let meetings = try r.decode(Int.self, 5), present = try r.decode(Int.self, 6)
            let excused = try r.decode(Int.self, 7), absent = try r.decode(Int.self, 8)
            return NonAttendance(memberId: memberID,
                                 member: Introduction.MemberSummary(id: memberID, fullName: try r.decode(String.self, 1),
                                                                    partyCardNumber: try r.decode(String.self, 2)),
                                 branchId: try r.decode(UUID.self, 3).lower, communeId: try r.decode(UUID.self, 4).lower, year: f.year,
                                 meetings: meetings, present: present, excused: excused, absent: absent,
                                 unrecorded: meetings - present - excused - absent)
        }
        let next = rows.count > limit ? items.last.map { [$0.memberId] } : nil
        return (items, next)
    }
}
