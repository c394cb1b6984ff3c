import Foundation
import HTTP
import Postgres

/// A meeting of the residential branch committee with the Fatherland Front work committee of the
/// area (Reg. 213 Art. 4 §4), at which the comments on one or many members are agreed.
public struct AssessmentMeeting: Encodable, Sendable {
    public struct Attendee: Encodable, Sendable {
        public var name: String
        public var side: String
        public var title: String?
        enum CodingKeys: String, CodingKey { case name, side, title }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name); try c.encode(side, forKey: .side); try c.encode(title, forKey: .title)
        }
    }

    public var id: UUID
    public var branchId: UUID
    public var communeId: UUID
    public var heldOn: PGDate
    public var location: String?
    public var notes: String?
    public var frontAttendees: Int
    public var attendees: [Attendee]
    public var memberCount: Int
    /// The members discussed: listed for the residence side (and its ancestors) only; a requesting
    /// workplace sees the meeting its own request was discussed at, not who else was.
    public var memberIds: [String]
    public var requestCount: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var branchPath: String
    var communePath: String

    enum CodingKeys: String, CodingKey {
        case id, branchId, communeId, heldOn, location, notes, frontAttendees, attendees, memberCount, memberIds, requestCount
        case createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(branchId.lower, forKey: .branchId)
        try c.encode(communeId.lower, forKey: .communeId)
        try c.encode(heldOn, forKey: .heldOn)
        try c.encode(location, forKey: .location)
        try c.encode(notes, forKey: .notes)
        try c.encode(frontAttendees, forKey: .frontAttendees)
        try c.encode(attendees, forKey: .attendees)
        try c.encode(memberCount, forKey: .memberCount)
        try c.encode(memberIds, forKey: .memberIds)
        try c.encode(requestCount, forKey: .requestCount)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }
}

enum AssessmentMeetingRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/assessment-meetings", create)
        router.get("/v1/assessment-meetings/{id}", get)
    }

    /// The meeting, with its member list only when `withMembers`.
    static func fetch(_ db: Connection, _ id: UUID, withMembers: Bool = false) throws -> AssessmentMeeting? {
        guard var m = try fetchWithoutMembers(db, id) else { return nil }
        if withMembers { m.memberIds = try memberIDs(db, id) }
        return m
    }

    static func memberIDs(_ db: Connection, _ id: UUID) throws -> [String] {
        try db.query("SELECT member_id FROM assessment_meeting_members WHERE meeting_id = $1 ORDER BY member_id", id).map { try $0.decode(UUID.self, 0).lower }
    }

    private static func fetchWithoutMembers(_ db: Connection, _ id: UUID) throws -> AssessmentMeeting? {
        guard let row = try db.queryRow("""
            SELECT id, branch_id, commune_id, held_on, location, notes, front_attendees, created_at, updated_at, version,
                   branch_path::text, commune_path::text,
                   (SELECT count(*) FROM assessment_meeting_members WHERE meeting_id = g.id),
                   (SELECT count(*) FROM assessment_requests WHERE meeting_id = g.id)
            FROM assessment_meetings g WHERE id = $1
            """, id) else { return nil }
        let attendees = try db.query("SELECT name, side, title FROM assessment_meeting_attendees WHERE meeting_id = $1 ORDER BY position", id).map {
            AssessmentMeeting.Attendee(name: try $0.decode(String.self, 0), side: try $0.decode(String.self, 1), title: try $0.decode(String?.self, 2))
        }
        return AssessmentMeeting(id: try row.decode(UUID.self, 0), branchId: try row.decode(UUID.self, 1), communeId: try row.decode(UUID.self, 2),
                                 heldOn: try row.decode(PGDate.self, 3), location: try row.decode(String?.self, 4), notes: try row.decode(String?.self, 5),
                                 frontAttendees: try row.decode(Int.self, 6), attendees: attendees, memberCount: try row.decode(Int.self, 12),
                                 memberIds: [], requestCount: try row.decode(Int.self, 13), createdAt: try row.decode(Date.self, 7),
                                 updatedAt: try row.decode(Date.self, 8), version: try row.decode(Int.self, 9),
                                 branchPath: try row.decode(String.self, 10), communePath: try row.decode(String.self, 11))
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try request.pathUUID(notFound: "assessment meeting")
        guard var meeting = try fetch(ctx.db, id) else { throw APIError.notFound("assessment meeting") }
        if Policy.contains(p, path: meeting.branchPath) || Policy.contains(p, path: meeting.communePath) {
            meeting.memberIds = try memberIDs(ctx.db, id)
        } else {
            // A requesting workplace sees the meeting its (non-confidential, or its own) request was discussed at.
            let sees = try ctx.db.queryRow("""
                SELECT 1 FROM assessment_requests r JOIN organizations ro ON ro.id = r.requester_org_id
                WHERE r.meeting_id = $1 AND ro.path <@ $2::ltree
                  AND (NOT r.confidential OR r.requester_org_id = $3) LIMIT 1
                """, id, p.orgPath, p.orgID) != nil
            guard sees else { throw APIError.notFound("assessment meeting") }
        }
        if let notModified = ETag.notModified(request, version: meeting.version) { return notModified }
        return try JSONOutput.resource(meeting, version: meeting.version)
    }

    // MARK: Record

    struct NewMeeting {
        var heldOn: PGDate
        var location: String?
        var notes: String?
        var attendees: [AssessmentMeeting.Attendee]
    }

    /// Reads the meeting fields of a body; errors are collected in `input`.
    static func read(_ input: inout JSONInput) -> NewMeeting? {
        let heldOn = input.date("held_on")
        let location = input.string("location", required: false, maxLength: 300)
        let notes = input.string("notes", required: false, maxLength: 4000)
        var attendees: [AssessmentMeeting.Attendee] = []
        if let raw = input.array("attendees", maxCount: 100) {
            if raw.isEmpty { input.fail("attendees", "required", "must list at least one attendee") }
            for (i, obj) in raw.enumerated() {
                guard let o = obj as? [String: Any] else { input.fail("attendees/\(i)", "type", "must be an object"); continue }
                var a = JSONInput(object: o)
                let name = a.string("name", maxLength: 200)
                let side = a.string("side", pattern: "^(branch_committee|front_committee|other)$")
                let title = a.string("title", required: false, maxLength: 200)
                var errs = a.errors
                a.collectUnknown(into: &errs)
                for e in errs { input.fail("attendees/\(i)" + e.pointer, e.code, e.message) }
                if let name, let side { attendees.append(.init(name: name, side: side, title: title)) }
            }
        }
        guard let heldOn else { return nil }
        return NewMeeting(heldOn: heldOn, location: location, notes: notes, attendees: attendees)
    }

    /// Only the residential branch itself records its meetings. An organization outside the
    /// caller's scope is 404 whatever it is (existence is never revealed), then the kind (422),
    /// then whether the caller is that branch (403).
    static func requireOwnBranch(_ p: Principal, _ db: Connection, branchID: UUID) throws -> (communeID: UUID, branchPath: String, communePath: String) {
        guard let row = try db.queryRow("""
            SELECT b.path::text, b.kind = 'branch' AND c.kind = 'commune', c.id, c.path::text
            FROM organizations b LEFT JOIN organizations c ON c.id = b.parent_id WHERE b.id = $1
            """, branchID), Policy.contains(p, path: try row.decode(String.self, 0)) else {
            throw IntroductionRoutes.fieldError(404, "not_found", "/branch_id", "No organization with this id is visible to you.")
        }
        guard try row.decode(Bool?.self, 1) == true, let communeID = try row.decode(UUID?.self, 2), let communePath = try row.decode(String?.self, 3) else {
            throw IntroductionRoutes.fieldError(422, "invalid_branch", "/branch_id", "Must be a residential branch.")
        }
        guard p.orgID == branchID, p.role != .viewer else {
            throw APIError(status: 403, code: "not_your_action", detail: "Only the residential branch itself records its meetings with the Front work committee.")
        }
        return (communeID, try row.decode(String.self, 0), communePath)
    }

    /// Inserts the meeting, its attendees and members; returns its id.
    static func insert(_ db: Connection, _ p: Principal, _ m: NewMeeting, branchID: UUID, communeID: UUID, branchPath: String,
                       communePath: String, memberIDs: [UUID]) throws -> UUID {
        let today = try Deadlines.today(db)
        guard m.heldOn <= today, m.heldOn >= PGDate(year: 2000, month: 1, day: 1)! else {
            throw IntroductionRoutes.fieldError(422, "invalid_date", "/held_on", "must be a past date (the meeting has been held)")
        }
        let id = UUID()
        let front = m.attendees.filter { $0.side == "front_committee" }.count
        try db.execute("""
            INSERT INTO assessment_meetings (id, branch_id, commune_id, branch_path, commune_path, held_on, location, notes, front_attendees, created_by)
            VALUES ($1, $2, $3, $4::ltree, $5::ltree, $6, $7, $8, $9, $10)
            """, id, branchID, communeID, branchPath, communePath, m.heldOn, m.location, m.notes, front, p.accountID)
        for (i, a) in m.attendees.enumerated() {
            try db.execute("INSERT INTO assessment_meeting_attendees (meeting_id, position, name, side, title) VALUES ($1, $2, $3, $4, $5)",
                           id, i + 1, a.name, a.side, a.title)
        }
        try db.execute("""
            INSERT INTO assessment_meeting_members (meeting_id, member_id) SELECT $1, u FROM unnest($2::uuid[]) u ON CONFLICT DO NOTHING
            """, id, memberIDs)
        return id
    }

    /// `POST /v1/assessment-meetings`: one meeting for many members; the open requests of those
    /// members waiting on this branch are linked to it.
    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let branchID = input.uuid("branch_id", required: false) ?? p.orgID
        let meeting = read(&input)
        var memberIDs: [UUID] = []
        if let raw = input.array("member_ids", maxCount: 2000) {
            if raw.isEmpty { input.fail("member_ids", "required", "must list at least one member") }
            for (i, v) in raw.enumerated() {
                guard let s = v as? String, let id = UUID(uuidString: s) else { input.fail("member_ids/\(i)", "format", "must be a UUID"); continue }
                memberIDs.append(id)
            }
        }
        try input.finish()
        guard let meeting else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }

        let result = try ctx.db.transaction { db -> AssessmentMeeting in
            let branch = try requireOwnBranch(p, db, branchID: branchID)
            // Every member discussed must be a working member of this branch (a live link assigned to it).
            let rows = try db.query("""
                SELECT u.ord FROM unnest($1::uuid[]) WITH ORDINALITY u(id, ord)
                WHERE NOT EXISTS (SELECT 1 FROM introductions i WHERE i.member_id = u.id AND i.branch_id = $2 AND i.status IN ('assigned', 'active'))
                ORDER BY u.ord
                """, memberIDs, branchID)
            if !rows.isEmpty {
                let errors = try rows.map { r -> FieldError in
                    let i = try r.decode(Int.self, 0) - 1
                    return FieldError(pointer: "/member_ids/\(i)", code: "not_a_member_of_branch", message: "is not a working member of this branch")
                }
                throw APIError(status: 422, code: "validation_failed", detail: "Some members are not working members of this branch.", errors: errors)
            }
            let id = try insert(db, p, meeting, branchID: branchID, communeID: branch.communeID, branchPath: branch.branchPath,
                                communePath: branch.communePath, memberIDs: memberIDs)
            let linked = try db.query("""
                UPDATE assessment_requests SET meeting_id = $1, updated_at = now(), version = version + 1
                WHERE branch_id = $2 AND status = 'forwarded' AND member_id = ANY($3::uuid[]) RETURNING id
                """, id, branchID, memberIDs).count
            try EventLog.append(db, type: "assessment_meeting.recorded", entityType: "assessment_meeting", entityID: id,
                                orgIDs: [branchID, branch.communeID], actor: p, requestID: request.requestID,
                                data: ["members": memberIDs.count, "front_attendees": meeting.attendees.filter { $0.side == "front_committee" }.count,
                                       "linked_requests": linked])
            return try fetch(db, id, withMembers: true)!
        }
        return try JSONOutput.resource(result, status: 201, version: result.version, location: "/v1/assessment-meetings/\(result.id.lower)")
    }

    /// `POST /v1/assessment-requests/{id}/meeting`: records the meeting for this request's member,
    /// or (`{"meeting_id"}`) links a meeting the branch already recorded, adding the member to it.
    static func recordForRequest(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        let id = try AssessmentRequestRoutes.pathID(request)
        var input = try JSONInput(request)
        let existing = input.has("meeting_id") ? input.uuid("meeting_id") : nil
        let meeting = existing == nil ? read(&input) : nil
        try input.finish()

        let r = try ctx.db.transaction { db -> AssessmentRequest in
            let r = try AssessmentRequestRoutes.load(db, id, for: p, forUpdate: true)
            if case .failure(let refusal) = AssessmentStateMachine.apply(.editForm, to: r.status, by: Policy.side(p, r.involved)) {
                throw Policy.refusal(refusal, action: "record the meeting of")
            }
            try ETag.checkIfMatch(request, version: r.version)
            guard let branchID = r.branchId else { throw APIError.notFound() }
            let meetingID: UUID
            if let existing {
                guard try db.queryRow("SELECT 1 FROM assessment_meetings WHERE id = $1 AND branch_id = $2", existing, branchID) != nil else {
                    throw IntroductionRoutes.fieldError(422, "invalid_meeting", "/meeting_id", "Must be a meeting recorded by this branch.")
                }
                try db.execute("INSERT INTO assessment_meeting_members (meeting_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                               existing, r.memberId)
                meetingID = existing
            } else {
                guard let meeting else { throw APIError(status: 422, code: "validation_failed", detail: "Invalid body.") }
                let branch = try requireOwnBranch(p, db, branchID: branchID)
                meetingID = try insert(db, p, meeting, branchID: branchID, communeID: branch.communeID, branchPath: branch.branchPath,
                                       communePath: branch.communePath, memberIDs: [r.memberId])
                try EventLog.append(db, type: "assessment_meeting.recorded", entityType: "assessment_meeting", entityID: meetingID,
                                    orgIDs: [branchID, r.communeId], actor: p, requestID: request.requestID,
                                    data: ["members": 1, "front_attendees": meeting.attendees.filter { $0.side == "front_committee" }.count,
                                           "linked_requests": 1])
            }
            try AssessmentRequestRoutes.update(db, id, "meeting_id = $2", meetingID)
            return try AssessmentRequestRoutes.load(db, id, for: p)
        }
        return try JSONOutput.resource(r, version: r.version)
    }
}
