import Foundation
import Postgres

public enum ResidenceReportKind: String, CaseIterable, Sendable, Codable {
    case commendation, breach
}

public enum ResidenceReportStatus: String, CaseIterable, Sendable, Codable {
    case sent, acknowledged
}

/// Pure rules of a residence report (no I/O), table-tested in ResidenceTests.
public enum ResidenceReportStateMachine {
    /// Only the workplace the report is addressed to acknowledges it, once. The side is checked
    /// first: someone who may never acknowledge learns nothing about the state.
    public static func acknowledge(_ status: ResidenceReportStatus, by side: ExchangeSide) -> Result<ResidenceReportStatus, TransitionRefusal> {
        guard side == .workplace else { return .failure(.wrongSide(required: .workplace)) }
        guard status == .sent else { return .failure(.invalidState(current: status.rawValue)) }
        return .success(.acknowledged)
    }
}

/// A residential branch's report to a member's workplace committee: a commendation or a breach of
/// conduct (Reg. 213 Art. 4 §5), acknowledged by the workplace with a response.
public struct ResidenceReport: Encodable, Sendable {
    public var id: UUID
    public var memberId: UUID
    public var member: Introduction.MemberSummary
    public var introductionId: UUID
    public var kind: ResidenceReportKind
    public var summary: String
    public var occurredOn: PGDate?
    public var status: ResidenceReportStatus
    public var workplaceId: UUID
    public var communeId: UUID
    public var branchId: UUID
    public var awaitingOrgId: UUID?
    public var dueOn: PGDate?
    public var overdue: Bool
    public var response: String?
    public var acknowledgedOn: PGDate?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var involved: Policy.Involved
    var memberExemption: String

    enum CodingKeys: String, CodingKey {
        case id, memberId, member, introductionId, kind, summary, occurredOn, status, workplaceId, communeId, branchId
        case awaitingOrgId, dueOn, overdue, response, acknowledgedOn, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(memberId.lower, forKey: .memberId)
        try c.encode(member, forKey: .member)
        try c.encode(introductionId.lower, forKey: .introductionId)
        try c.encode(kind, forKey: .kind)
        try c.encode(summary, forKey: .summary)
        try c.encode(occurredOn, forKey: .occurredOn)
        try c.encode(status, forKey: .status)
        try c.encode(workplaceId.lower, forKey: .workplaceId)
        try c.encode(communeId.lower, forKey: .communeId)
        try c.encode(branchId.lower, forKey: .branchId)
        try c.encode(awaitingOrgId?.lower, forKey: .awaitingOrgId)
        try c.encode(dueOn, forKey: .dueOn)
        try c.encode(overdue, forKey: .overdue)
        try c.encode(response, forKey: .response)
        try c.encode(acknowledgedOn, forKey: .acknowledgedOn)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    /// Visible to every organization the report involves and their ancestors; to the residence side
    /// never when the member is exempt from introduction (the exemption may come after the report).
    func visible(to p: Principal) -> Bool {
        Policy.canSee(p, involved) && !(p.isResidenceSide && memberExemption == "introduction")
    }

    static let columns = """
        r.id, r.member_id, m.full_name, m.party_card_number, r.introduction_id, r.kind, r.summary, r.occurred_on, r.status,
        r.workplace_id, r.commune_id, r.branch_id, r.awaiting_org_id, r.due_on, (r.due_on < hcm_today()), r.response,
        r.acknowledged_on, r.created_at, r.updated_at, r.version, r.workplace_path::text, r.commune_path::text, r.branch_path::text,
        m.exemption
        """
    static let from = "residence_reports r JOIN members m ON m.id = r.member_id"

    init(row r: Row) throws {
        id = try r.decode(UUID.self, 0)
        memberId = try r.decode(UUID.self, 1)
        member = Introduction.MemberSummary(id: memberId.lower, fullName: try r.decode(String.self, 2), partyCardNumber: try r.decode(String.self, 3))
        introductionId = try r.decode(UUID.self, 4)
        kind = ResidenceReportKind(rawValue: try r.decode(String.self, 5)) ?? .commendation
        summary = try r.decode(String.self, 6)
        occurredOn = try r.decode(PGDate?.self, 7)
        status = ResidenceReportStatus(rawValue: try r.decode(String.self, 8)) ?? .sent
        workplaceId = try r.decode(UUID.self, 9)
        communeId = try r.decode(UUID.self, 10)
        branchId = try r.decode(UUID.self, 11)
        awaitingOrgId = try r.decode(UUID?.self, 12)
        dueOn = try r.decode(PGDate?.self, 13)
        overdue = try r.decode(Bool?.self, 14) ?? false
        response = try r.decode(String?.self, 15)
        acknowledgedOn = try r.decode(PGDate?.self, 16)
        createdAt = try r.decode(Date.self, 17)
        updatedAt = try r.decode(Date.self, 18)
        version = try r.decode(Int.self, 19)
        involved = Policy.Involved(workplaceID: workplaceId, workplacePath: try r.decode(String.self, 20), communeID: communeId,
                                   communePath: try r.decode(String.self, 21), branchID: branchId, branchPath: try r.decode(String.self, 22))
        memberExemption = try r.decode(String.self, 23)
    }

    static let csvHeader = ["id", "member_id", "member_full_name", "introduction_id", "kind", "summary", "occurred_on", "status",
                            "workplace_id", "commune_id", "branch_id", "awaiting_org_id", "due_on", "overdue", "response",
                            "acknowledged_on", "created_at"]

    var csvRow: [String?] {
        [id.lower, memberId.lower, member.fullName, introductionId.lower, kind.rawValue, summary, occurredOn?.description, status.rawValue,
         workplaceId.lower, communeId.lower, branchId.lower, awaitingOrgId?.lower, dueOn?.description, overdue ? "true" : "false",
         response, acknowledgedOn?.description, Timestamp.rfc3339(createdAt)]
    }
}
