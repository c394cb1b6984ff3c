import Foundation
import Postgres

public enum AttendanceStatus: String, CaseIterable, Sendable, Codable {
    case present, excused, absent
}

/// A residential branch's periodic meeting with its working members (Reg. 213 Art. 4 §3), as the
/// API shows it. `attendance` is filled only for the single resource: lists carry the counts.
public struct ResidenceMeeting: Encodable, Sendable {
    public var id: UUID
    public var branchId: UUID
    public var communeId: UUID
    public var heldOn: PGDate
    public var topic: String
    public var counts: Counts
    public var attendance: [Entry]?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var branchPath: String
    var communePath: String

    public struct Counts: Encodable, Sendable {
        public var present: Int
        public var excused: Int
        public var absent: Int
    }

    public struct Entry: Encodable, Sendable {
        public var memberId: String
        public var fullName: String
        public var status: AttendanceStatus
    }

    enum CodingKeys: String, CodingKey {
        case id, branchId, communeId, heldOn, topic, counts, attendance, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(branchId.lower, forKey: .branchId)
        try c.encode(communeId.lower, forKey: .communeId)
        try c.encode(heldOn, forKey: .heldOn)
        try c.encode(topic, forKey: .topic)
        try c.encode(counts, forKey: .counts)
        if let attendance { try c.encode(attendance, forKey: .attendance) }
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    /// A meeting is visible to its branch, its commune and their ancestors. Binds the caller's path
    /// as `$n`.
    static func visibleSQL(param n: Int) -> String {
        "(rm.branch_path <@ $\(n)::ltree OR rm.commune_path <@ $\(n)::ltree)"
    }

    func visible(to p: Principal) -> Bool {
        Policy.contains(p, path: branchPath) || Policy.contains(p, path: communePath)
    }

    static let columns = """
        rm.id, rm.branch_id, rm.commune_id, rm.held_on, rm.topic, c.present, c.excused, c.absent, rm.created_at, rm.updated_at,
        rm.version, rm.branch_path::text, rm.commune_path::text
        """

    /// Counts only the entries the caller may see, so they always agree with `attendance` (members
    /// exempt from introduction never show to the residence side, even in old attendance).
    static func from(_ p: Principal) -> String {
        """
        residence_meetings rm LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE a.status = 'present') AS present, count(*) FILTER (WHERE a.status = 'excused') AS excused,
                   count(*) FILTER (WHERE a.status = 'absent') AS absent
            FROM residence_meeting_attendance a JOIN members am ON am.id = a.member_id
            WHERE a.meeting_id = rm.id AND \(Policy.memberVisibilitySQL(p, exemptionColumn: "am.exemption"))) c ON TRUE
        """
    }

    init(row r: Row) throws {
        id = try r.decode(UUID.self, 0)
        branchId = try r.decode(UUID.self, 1)
        communeId = try r.decode(UUID.self, 2)
        heldOn = try r.decode(PGDate.self, 3)
        topic = try r.decode(String.self, 4)
        counts = Counts(present: try r.decode(Int?.self, 5) ?? 0, excused: try r.decode(Int?.self, 6) ?? 0,
                        absent: try r.decode(Int?.self, 7) ?? 0)
        createdAt = try r.decode(Date.self, 8)
        updatedAt = try r.decode(Date.self, 9)
        version = try r.decode(Int.self, 10)
        branchPath = try r.decode(String.self, 11)
        communePath = try r.decode(String.self, 12)
    }

    static let csvHeader = ["id", "branch_id", "commune_id", "held_on", "topic", "present", "excused", "absent", "created_at", "updated_at"]

    var csvRow: [String?] {
        [id.lower, branchId.lower, communeId.lower, heldOn.description, topic, String(counts.present), String(counts.excused),
         String(counts.absent), Timestamp.rfc3339(createdAt), Timestamp.rfc3339(updatedAt)]
    }
}

/// One row of the non-attendance list (domain.md §3.5): a working member of a branch who missed at
/// least one of the branch's meetings in the year.
public struct NonAttendance: Encodable, Sendable {
    public var memberId: String
    public var member: Introduction.MemberSummary
    public var branchId: String
    public var communeId: String
    public var year: Int
    /// Meetings the branch held in the year.
    public var meetings: Int
    public var present: Int
    public var excused: Int
    public var absent: Int
    /// Meetings of the year with no entry for the member (not recorded, or before the member joined).
    public var unrecorded: Int

    static let csvHeader = ["member_id", "member_full_name", "party_card_number", "branch_id", "commune_id", "year", "meetings",
                            "present", "excused", "absent", "unrecorded"]

    var csvRow: [String?] {
        [memberId, member.fullName, member.partyCardNumber, branchId, communeId, String(year), String(meetings), String(present),
         String(excused), String(absent), String(unrecorded)]
    }
}
