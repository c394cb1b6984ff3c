import Foundation
import Postgres

/// An introduction as stored and as the API shows it (DESIGN.md §3a).
public struct Introduction: Encodable, Sendable {
    public var id: UUID
    public var number: String
    public var year: Int
    public var memberId: UUID
    public var member: MemberSummary
    public var workplaceId: UUID
    public var communeId: UUID
    public var branchId: UUID?
    public var status: IntroductionStatus
    public var exemptionMarker: Bool
    public var note: String?
    public var returnReasonCode: String?
    public var returnReason: String?
    public var withdrawReason: String?
    public var endReason: String?
    public var awaitingOrgId: UUID?
    public var dueOn: PGDate?
    public var overdue: Bool
    public var receivedOn: PGDate?
    public var assignedOn: PGDate?
    public var acknowledgedOn: PGDate?
    public var endedOn: PGDate?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var involved: Policy.Involved

    public struct MemberSummary: Encodable, Sendable {
        public var id: String
        public var fullName: String
        public var partyCardNumber: String
    }

    enum CodingKeys: String, CodingKey {
        case id, number, year, memberId, member, workplaceId, communeId, branchId, status, exemptionMarker, note
        case returnReasonCode, returnReason, withdrawReason, endReason, awaitingOrgId, dueOn, overdue
        case receivedOn, assignedOn, acknowledgedOn, endedOn, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(number, forKey: .number)
        try c.encode(year, forKey: .year)
        try c.encode(memberId.lower, forKey: .memberId)
        try c.encode(member, forKey: .member)
        try c.encode(workplaceId.lower, forKey: .workplaceId)
        try c.encode(communeId.lower, forKey: .communeId)
        try c.encode(branchId?.lower, forKey: .branchId)
        try c.encode(status, forKey: .status)
        try c.encode(exemptionMarker, forKey: .exemptionMarker)
        try c.encode(note, forKey: .note)
        try c.encode(returnReasonCode, forKey: .returnReasonCode)
        try c.encode(returnReason, forKey: .returnReason)
        try c.encode(withdrawReason, forKey: .withdrawReason)
        try c.encode(endReason, forKey: .endReason)
        try c.encode(awaitingOrgId?.lower, forKey: .awaitingOrgId)
        try c.encode(dueOn, forKey: .dueOn)
        try c.encode(overdue, forKey: .overdue)
        try c.encode(receivedOn, forKey: .receivedOn)
        try c.encode(assignedOn, forKey: .assignedOn)
        try c.encode(acknowledgedOn, forKey: .acknowledgedOn)
        try c.encode(endedOn, forKey: .endedOn)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    static let columns = """
        i.id, i.number, i.year, i.member_id, m.full_name, m.party_card_number, i.workplace_id, i.commune_id, i.branch_id,
        i.status, i.exemption_marker, i.note, i.return_reason_code, i.return_reason, i.withdraw_reason, i.end_reason,
        i.awaiting_org_id, i.due_on, (i.due_on < hcm_today()) AS overdue, i.received_on, i.assigned_on, i.acknowledged_on,
        i.ended_on, i.created_at, i.updated_at, i.version, i.workplace_path::text, i.commune_path::text, i.branch_path::text
        """
    static let from = "introductions i JOIN members m ON m.id = i.member_id"

    init(row r: Row) throws {
        id = try r.decode(UUID.self, 0)
        number = try r.decode(String.self, 1)
        year = try r.decode(Int.self, 2)
        memberId = try r.decode(UUID.self, 3)
        member = MemberSummary(id: memberId.lower, fullName: try r.decode(String.self, 4), partyCardNumber: try r.decode(String.self, 5))
        workplaceId = try r.decode(UUID.self, 6)
        communeId = try r.decode(UUID.self, 7)
        branchId = try r.decode(UUID?.self, 8)
        status = IntroductionStatus(rawValue: try r.decode(String.self, 9)) ?? .sent
        exemptionMarker = try r.decode(Bool.self, 10)
        note = try r.decode(String?.self, 11)
        returnReasonCode = try r.decode(String?.self, 12)
        returnReason = try r.decode(String?.self, 13)
        withdrawReason = try r.decode(String?.self, 14)
        endReason = try r.decode(String?.self, 15)
        awaitingOrgId = try r.decode(UUID?.self, 16)
        dueOn = try r.decode(PGDate?.self, 17)
        overdue = try r.decode(Bool?.self, 18) ?? false
        receivedOn = try r.decode(PGDate?.self, 19)
        assignedOn = try r.decode(PGDate?.self, 20)
        acknowledgedOn = try r.decode(PGDate?.self, 21)
        endedOn = try r.decode(PGDate?.self, 22)
        createdAt = try r.decode(Date.self, 23)
        updatedAt = try r.decode(Date.self, 24)
        version = try r.decode(Int.self, 25)
        involved = Policy.Involved(workplaceID: workplaceId, workplacePath: try r.decode(String.self, 26),
                                   communeID: communeId, communePath: try r.decode(String.self, 27),
                                   branchID: branchId, branchPath: try r.decode(String?.self, 28))
    }

    static let csvHeader = ["id", "number", "year", "member_id", "member_full_name", "party_card_number", "workplace_id", "commune_id",
                            "branch_id", "status", "exemption_marker", "awaiting_org_id", "due_on", "overdue", "received_on",
                            "assigned_on", "acknowledged_on", "ended_on", "end_reason", "created_at", "updated_at"]

    var csvRow: [String?] {
        [id.lower, number, String(year), memberId.lower, member.fullName, member.partyCardNumber, workplaceId.lower, communeId.lower,
         branchId?.lower, status.rawValue, exemptionMarker ? "true" : "false", awaitingOrgId?.lower, dueOn?.description,
         overdue ? "true" : "false", receivedOn?.description, assignedOn?.description, acknowledgedOn?.description,
         endedOn?.description, endReason, Timestamp.rfc3339(createdAt), Timestamp.rfc3339(updatedAt)]
    }
}
