import Foundation
import Postgres

/// A change notice as stored and shown (DESIGN.md §3a).
public struct ChangeNotice: Encodable, Sendable {
    public var id: UUID
    public var memberId: UUID
    public var member: Introduction.MemberSummary
    public var introductionId: UUID
    public var kind: ChangeNoticeKind
    public var effectiveOn: PGDate
    public var decisionRef: String?
    public var reason: String?
    public var details: [String: String]
    public var status: ChangeNoticeStatus
    public var workplaceId: UUID
    public var communeId: UUID
    public var branchId: UUID?
    public var awaitingOrgId: UUID?
    public var dueOn: PGDate?
    public var overdue: Bool
    public var acknowledgedOn: PGDate?
    public var acknowledgedBy: UUID?
    public var acknowledgeNote: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var involved: Policy.Involved

    enum CodingKeys: String, CodingKey {
        case id, memberId, member, introductionId, kind, effectiveOn, decisionRef, reason, details, status, workplaceId, communeId
        case branchId, awaitingOrgId, dueOn, overdue, acknowledgedOn, acknowledgedBy, acknowledgeNote, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(memberId.lower, forKey: .memberId)
        try c.encode(member, forKey: .member)
        try c.encode(introductionId.lower, forKey: .introductionId)
        try c.encode(kind, forKey: .kind)
        try c.encode(effectiveOn, forKey: .effectiveOn)
        try c.encode(decisionRef, forKey: .decisionRef)
        try c.encode(reason, forKey: .reason)
        try c.encode(details, forKey: .details)
        try c.encode(status, forKey: .status)
        try c.encode(workplaceId.lower, forKey: .workplaceId)
        try c.encode(communeId.lower, forKey: .communeId)
        try c.encode(branchId?.lower, forKey: .branchId)
        try c.encode(awaitingOrgId?.lower, forKey: .awaitingOrgId)
        try c.encode(dueOn, forKey: .dueOn)
        try c.encode(overdue, forKey: .overdue)
        try c.encode(acknowledgedOn, forKey: .acknowledgedOn)
        try c.encode(acknowledgedBy?.lower, forKey: .acknowledgedBy)
        try c.encode(acknowledgeNote, forKey: .acknowledgeNote)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    static let columns = """
        n.id, n.member_id, m.full_name, m.party_card_number, n.introduction_id, n.kind, n.effective_on, n.decision_ref, n.reason,
        n.details::text, n.status, n.workplace_id, n.commune_id, n.branch_id, n.awaiting_org_id, n.due_on,
        (n.due_on < hcm_today()), n.acknowledged_on, n.acknowledged_by, n.acknowledge_note, n.created_at, n.updated_at, n.version,
        n.workplace_path::text, n.commune_path::text, n.branch_path::text
        """
    static let from = "change_notices n JOIN members m ON m.id = n.member_id"

    init(row r: Row) throws {
        id = try r.decode(UUID.self, 0)
        memberId = try r.decode(UUID.self, 1)
        member = Introduction.MemberSummary(id: memberId.lower, fullName: try r.decode(String.self, 2), partyCardNumber: try r.decode(String.self, 3))
        introductionId = try r.decode(UUID.self, 4)
        kind = ChangeNoticeKind(rawValue: try r.decode(String.self, 5)) ?? .dataCorrection
        effectiveOn = try r.decode(PGDate.self, 6)
        decisionRef = try r.decode(String?.self, 7)
        reason = try r.decode(String?.self, 8)
        let detailsText = try r.decode(String.self, 9)
        details = (try? JSONDecoder().decode([String: String].self, from: Data(detailsText.utf8))) ?? [:]
        status = ChangeNoticeStatus(rawValue: try r.decode(String.self, 10)) ?? .sent
        workplaceId = try r.decode(UUID.self, 11)
        communeId = try r.decode(UUID.self, 12)
        branchId = try r.decode(UUID?.self, 13)
        awaitingOrgId = try r.decode(UUID?.self, 14)
        dueOn = try r.decode(PGDate?.self, 15)
        overdue = try r.decode(Bool?.self, 16) ?? false
        acknowledgedOn = try r.decode(PGDate?.self, 17)
        acknowledgedBy = try r.decode(UUID?.self, 18)
        acknowledgeNote = try r.decode(String?.self, 19)
        createdAt = try r.decode(Date.self, 20)
        updatedAt = try r.decode(Date.self, 21)
        version = try r.decode(Int.self, 22)
        involved = Policy.Involved(workplaceID: workplaceId, workplacePath: try r.decode(String.self, 23), communeID: communeId,
                                   communePath: try r.decode(String.self, 24), branchID: branchId, branchPath: try r.decode(String?.self, 25))
    }

    static let csvHeader = ["id", "member_id", "member_full_name", "introduction_id", "kind", "effective_on", "decision_ref", "status",
                            "workplace_id", "commune_id", "branch_id", "awaiting_org_id", "due_on", "overdue", "acknowledged_on", "created_at"]

    var csvRow: [String?] {
        [id.lower, memberId.lower, member.fullName, introductionId.lower, kind.rawValue, effectiveOn.description, decisionRef, status.rawValue,
         workplaceId.lower, communeId.lower, branchId?.lower, awaitingOrgId?.lower, dueOn?.description, overdue ? "true" : "false",
         acknowledgedOn?.description, Timestamp.rfc3339(createdAt)]
    }
}
