import Foundation
import HTTP
import Postgres

/// `/v1/residence-meetings`: a residential branch records its periodic meetings with the working
/// members living in its area and who attended. The attendance feeds item 3 of the assessment form
/// and the non-attendance list (ResidenceNonAttendance.swift). Only the branch itself writes; the
/// branch, its commune and their ancestors read.
enum ResidenceMeetingRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/residence-meetings", create)
        router.get("/v1/residence-meetings", list)
        // A static segment wins over `{id}` in the router.
        router.get("/v1/residence-meetings/non-attendance", nonAttendance)
        router.get("/v1/residence-meetings/{id}", get)
        router.put("/v1/residence-meetings/{id}/attendance", attendance)
    }

    static let maxEntries = 2000
    static let earliest = PGDate(year: 2000, month: 1, day: 1)!

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "residence meeting")
    }

    static func load(_ db: Connection, _ id: UUID, for p: Principal, withAttendance: Bool = true) throws -> ResidenceMeeting {
        guard let row = try db.queryRow("SELECT \(ResidenceMeeting.columns) FROM \(ResidenceMeeting.from(p)) WHERE rm.id = $1", id)
        else { throw APIError.notFound("residence meeting") }
        var meeting = try ResidenceMeeting(row: row)
        guard meeting.visible(to: p) else { throw APIError.notFound("residence meeting") }
        if withAttendance {
            meeting.attendance = try db.query("""
                SELECT a.member_id, m.full_name, a.status FROM residence_meeting_attendance a JOIN members m ON m.id = a.member_id
                WHERE a.meeting_id = $1 AND \(Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption"))
                ORDER BY m.full_name, a.member_id
                """, id).map {
                ResidenceMeeting.Entry(memberId: try $0.decode(UUID.self, 0).lower, fullName: try $0.decode(String.self, 1),
                                       status: AttendanceStatus(rawValue: try $0.decode(String.self, 2)) ?? .absent)
            }
        }
        return meeting
    }

    // MARK: Create

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let branchID = input.uuid("branch_id", required: false)
        let heldOn = input.date("held_on")
        let topic = input.string("topic", maxLength: 500)
        if let heldOn {
            if heldOn < earliest {
                input.fail("held_on", "out_of_range", "must not be before 2000-01-01")
            } else if heldOn > (try Deadlines.today(ctx.db)) {
                input.fail("held_on", "out_of_range", "must not be in the future")
            }
        }
        try input.finish()
        guard let heldOn, let topic else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        let meeting = try ctx.db.transaction { db -> ResidenceMeeting in
            let branch = try ownBranch(db, p, branchID ?? p.orgID)
            let id = UUID()
            try db.execute("""
                INSERT INTO residence_meetings (id, branch_id, commune_id, branch_path, commune_path, held_on, topic, created_by)
                VALUES ($1, $2, $3, $4::ltree, $5::ltree, $6, $7, $8)
                """, id, p.orgID, branch.communeID, p.orgPath, branch.communePath, heldOn, topic, p.accountID)
            try EventLog.append(db, type: "residence_meeting.recorded", entityType: "residence_meeting", entityID: id,
                                orgIDs: [p.orgID, branch.communeID], actor: p, requestID: request.requestID,
                                data: ["held_on": heldOn.description])
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(meeting, status: 201, version: meeting.version, location: "/v1/residence-meetings/\(meeting.id.lower)")
    }

    /// The caller's own residential branch and its commune. Another organization is 404 outside
    /// the caller's scope and 403 inside it: a commune watches its branches' meetings, it does not
    /// record them.
    static func ownBranch(_ db: Connection, _ p: Principal, _ branchID: UUID) throws -> (communeID: UUID, communePath: String) {
        if branchID != p.orgID {
            let inScope = try db.queryRow("SELECT path::text FROM organizations WHERE id = $1", branchID)
                .map { Policy.contains(p, path: try $0.decode(String.self, 0)) } ?? false
            guard inScope else {
                throw APIError(status: 404, code: "not_found", detail: "No branch with this id is visible to you.",
                               errors: [FieldError(pointer: "/branch_id", code: "not_found", message: "is not visible to you")])
            }
            throw APIError.forbidden("A residential branch records only its own meetings.")
        }
        guard p.isResidenceSide, p.orgKind == "branch", let row = try db.queryRow("""
            SELECT c.id, c.path::text FROM organizations o JOIN organizations c ON c.id = o.parent_id AND c.kind = 'commune'
            WHERE o.id = $1
            """, branchID) else { throw APIError.forbidden("Only a residential branch records residence meetings.") }
        return (try row.decode(UUID.self, 0), try row.decode(String.self, 1))
    }

    // MARK: Attendance

    static func attendance(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        let id = try pathID(request)
        var input = try JSONInput(request)
        // (index in the body, member, status), first occurrence of each member only.
        var entries: [(index: Int, member: UUID, status: AttendanceStatus)] = []
        if let raw = input.array("entries", maxCount: maxEntries) {
            var firstIndex: [UUID: Int] = [:]
            for (i, obj) in raw.enumerated() {
                guard let o = obj as? [String: Any] else { input.fail("entries/\(i)", "type", "must be an object"); continue }
                var item = JSONInput(object: o)
                let member = item.uuid("member_id")
                let status = item.enumeration("status", AttendanceStatus.self)
                var errors = item.errors
                item.collectUnknown(into: &errors)
                for e in errors { input.fail("entries/\(i)" + e.pointer, e.code, e.message) }
                guard let member, let status else { continue }
                if let first = firstIndex[member] {
                    input.fail("entries/\(i)/member_id", "duplicate", "repeats the member of /entries/\(first)")
                } else {
                    firstIndex[member] = i
                    entries.append((i, member, status))
                }
            }
        }
        try input.finish()

        let meeting = try ctx.db.transaction { db -> ResidenceMeeting in
            _ = try db.queryRow("SELECT 1 FROM residence_meetings WHERE id = $1 FOR UPDATE", id)
            let m = try load(db, id, for: p, withAttendance: false)
            guard p.orgID == m.branchId else {
                throw APIError(status: 403, code: "not_your_action", detail: "Only the branch that held the meeting records its attendance.")
            }
            try ETag.checkIfMatch(request, version: m.version)
            let working = Set(try db.query("""
                SELECT i.member_id FROM introductions i JOIN members mm ON mm.id = i.member_id
                WHERE i.member_id = ANY($1::uuid[]) AND i.branch_id = $2 AND i.status IN ('assigned', 'active')
                  AND mm.exemption <> 'introduction'
                """, entries.map(\.member), m.branchId).map { try $0.decode(UUID.self, 0) })
            let outsiders = entries.filter { !working.contains($0.member) }
            guard outsiders.isEmpty else {
                throw APIError(status: 422, code: "not_a_member_of_branch",
                               detail: "Attendance is recorded only for working members of this branch; nothing was recorded.",
                               errors: outsiders.map {
                                   FieldError(pointer: "/entries/\($0.index)/member_id", code: "not_a_member_of_branch",
                                              message: "is not a working member of this branch")
                               })
            }
            try db.execute("""
                INSERT INTO residence_meeting_attendance (meeting_id, member_id, status)
                SELECT $1, u.member_id, u.status FROM unnest($2::uuid[], $3::text[]) AS u (member_id, status)
                ON CONFLICT (meeting_id, member_id) DO UPDATE SET status = EXCLUDED.status, recorded_at = now()
                """, id, entries.map(\.member), entries.map(\.status.rawValue))
            try db.execute("UPDATE residence_meetings SET updated_at = now(), version = version + 1 WHERE id = $1", id)
            var counts: [String: Int] = ["entries": entries.count]
            for s in AttendanceStatus.allCases { counts[s.rawValue] = entries.filter { $0.status == s }.count }
            try EventLog.append(db, type: "residence_meeting.attendance_recorded", entityType: "residence_meeting", entityID: id,
                                orgIDs: [m.branchId, m.communeId], actor: p, requestID: request.requestID, data: counts)
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(meeting, version: meeting.version)
    }

    // MARK: Read

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let m = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: m.version) { return notModified }
        return try JSONOutput.resource(m, version: m.version)
    }

    struct ListFilter: Sendable {
        var branchID: UUID?
        var from: PGDate?
        var to: PGDate?

        init(_ request: Request) throws {
            branchID = try request.uuidQuery("branch_id")
            for name in ["from", "to"] {
                guard let v = request.query(name) else { continue }
                guard v.utf8.count == 10, let d = PGDate(v) else { throw APIError.invalidParameter(name, "must be a date YYYY-MM-DD") }
                if name == "from" { from = d } else { to = d }
            }
        }
    }

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let filter = try ListFilter(request)
        return try Listing.respond(request, ctx, csv: "residence-meetings", header: ResidenceMeeting.csvHeader, row: { $0.csvRow }) { db, after, limit in
            try fetch(db, p, filter, after: after, limit: limit)
        }
    }

    static func fetch(_ db: Connection, _ p: Principal, _ f: ListFilter, after: [String]?, limit: Int) throws -> ([ResidenceMeeting], [String]?) {
        var conditions = [ResidenceMeeting.visibleSQL(param: 1)]
        var params: [any PostgresEncodable] = [p.orgPath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = f.branchID { conditions.append("rm.branch_id = $\(bind(v))") }
        if let v = f.from { conditions.append("rm.held_on >= $\(bind(v))") }
        if let v = f.to { conditions.append("rm.held_on <= $\(bind(v))") }
        if let c = try CreatedKeyset.condition(after: after, alias: "rm", bind: bind) { conditions.append(c) }
        let rows = try db.query("SELECT \(ResidenceMeeting.columns) FROM \(ResidenceMeeting.from(p)) WHERE \(conditions.joined(separator: " AND ")) "
                                + "ORDER BY rm.created_at, rm.id LIMIT \(limit + 1)", parameters: params)
        return CreatedKeyset.page(try rows.map(ResidenceMeeting.init(row:)), limit: limit) { ($0.createdAt, $0.id) }
    }
}
