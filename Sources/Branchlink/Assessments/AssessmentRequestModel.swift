import Foundation
import Postgres

/// An assessment request as stored and as the API shows it (DESIGN.md §3a).
public struct AssessmentRequest: Encodable, Sendable {
    public var id: UUID
    public var memberId: UUID
    public var member: Introduction.MemberSummary
    public var introductionId: UUID
    public var purpose: AssessmentPurpose
    public var year: Int
    public var campaignId: UUID?
    public var confidential: Bool
    public var formVariant: String
    public var formVersion: Int
    public var neededBy: PGDate
    public var note: String?
    public var requesterOrgId: UUID
    public var communeId: UUID
    public var branchId: UUID?
    public var status: AssessmentStatus
    public var awaitingOrgId: UUID?
    public var dueOn: PGDate?
    public var overdue: Bool
    public var meetingId: UUID?
    public var sendBackCount: Int
    public var sendBackReason: String?
    public var cancelReason: String?
    public var closeNote: String?
    public var forwardedOn: PGDate?
    public var submittedOn: PGDate?
    public var confirmedOn: PGDate?
    public var closedOn: PGDate?
    public var cancelledOn: PGDate?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    /// The requester is the workplace side of the exchange.
    var involved: Policy.Involved

    enum CodingKeys: String, CodingKey {
        case id, memberId, member, introductionId, purpose, year, campaignId, confidential, formVariant, formVersion, neededBy, note
        case requesterOrgId, communeId, branchId, status, awaitingOrgId, dueOn, overdue, meetingId, sendBackCount, sendBackReason
        case cancelReason, closeNote, forwardedOn, submittedOn, confirmedOn, closedOn, cancelledOn, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(memberId.lower, forKey: .memberId)
        try c.encode(member, forKey: .member)
        try c.encode(introductionId.lower, forKey: .introductionId)
        try c.encode(purpose, forKey: .purpose)
        try c.encode(year, forKey: .year)
        try c.encode(campaignId?.lower, forKey: .campaignId)
        try c.encode(confidential, forKey: .confidential)
        try c.encode(formVariant, forKey: .formVariant)
        try c.encode(formVersion, forKey: .formVersion)
        try c.encode(neededBy, forKey: .neededBy)
        try c.encode(note, forKey: .note)
        try c.encode(requesterOrgId.lower, forKey: .requesterOrgId)
        try c.encode(communeId.lower, forKey: .communeId)
        try c.encode(branchId?.lower, forKey: .branchId)
        try c.encode(status, forKey: .status)
        try c.encode(awaitingOrgId?.lower, forKey: .awaitingOrgId)
        try c.encode(dueOn, forKey: .dueOn)
        try c.encode(overdue, forKey: .overdue)
        try c.encode(meetingId?.lower, forKey: .meetingId)
        try c.encode(sendBackCount, forKey: .sendBackCount)
        try c.encode(sendBackReason, forKey: .sendBackReason)
        try c.encode(cancelReason, forKey: .cancelReason)
        try c.encode(closeNote, forKey: .closeNote)
        try c.encode(forwardedOn, forKey: .forwardedOn)
        try c.encode(submittedOn, forKey: .submittedOn)
        try c.encode(confirmedOn, forKey: .confirmedOn)
        try c.encode(closedOn, forKey: .closedOn)
        try c.encode(cancelledOn, forKey: .cancelledOn)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    static let columns = """
        r.id, r.member_id, m.full_name, m.party_card_number, r.introduction_id, r.purpose, r.year, r.campaign_id, r.confidential,
        r.form_variant, r.form_version, r.needed_by, r.note, r.requester_org_id, r.commune_id, r.branch_id, r.status,
        r.awaiting_org_id, r.due_on, (r.due_on < hcm_today()) AS overdue, r.meeting_id, r.send_back_count, r.send_back_reason,
        r.cancel_reason, r.close_note, r.forwarded_on, r.submitted_on, r.confirmed_on, r.closed_on, r.cancelled_on,
        r.created_at, r.updated_at, r.version, ro.path::text, co.path::text, bo.path::text
        """
    /// Requests hold organization ids only (migration 0007): the paths that scope one row come
    /// from the organizations.
    static let from = """
        assessment_requests r JOIN members m ON m.id = r.member_id JOIN organizations ro ON ro.id = r.requester_org_id
        JOIN organizations co ON co.id = r.commune_id LEFT JOIN organizations bo ON bo.id = r.branch_id
        """

    init(row r: Row) throws {
        id = try r.decode(UUID.self, 0)
        memberId = try r.decode(UUID.self, 1)
        member = Introduction.MemberSummary(id: memberId.lower, fullName: try r.decode(String.self, 2), partyCardNumber: try r.decode(String.self, 3))
        introductionId = try r.decode(UUID.self, 4)
        purpose = AssessmentPurpose(rawValue: try r.decode(String.self, 5)) ?? .other
        year = try r.decode(Int.self, 6)
        campaignId = try r.decode(UUID?.self, 7)
        confidential = try r.decode(Bool.self, 8)
        formVariant = try r.decode(String.self, 9)
        formVersion = try r.decode(Int.self, 10)
        neededBy = try r.decode(PGDate.self, 11)
        note = try r.decode(String?.self, 12)
        requesterOrgId = try r.decode(UUID.self, 13)
        communeId = try r.decode(UUID.self, 14)
        branchId = try r.decode(UUID?.self, 15)
        status = AssessmentStatus(rawValue: try r.decode(String.self, 16)) ?? .requested
        awaitingOrgId = try r.decode(UUID?.self, 17)
        dueOn = try r.decode(PGDate?.self, 18)
        overdue = try r.decode(Bool?.self, 19) ?? false
        meetingId = try r.decode(UUID?.self, 20)
        sendBackCount = try r.decode(Int.self, 21)
        sendBackReason = try r.decode(String?.self, 22)
        cancelReason = try r.decode(String?.self, 23)
        closeNote = try r.decode(String?.self, 24)
        forwardedOn = try r.decode(PGDate?.self, 25)
        submittedOn = try r.decode(PGDate?.self, 26)
        confirmedOn = try r.decode(PGDate?.self, 27)
        closedOn = try r.decode(PGDate?.self, 28)
        cancelledOn = try r.decode(PGDate?.self, 29)
        createdAt = try r.decode(Date.self, 30)
        updatedAt = try r.decode(Date.self, 31)
        version = try r.decode(Int.self, 32)
        involved = Policy.Involved(workplaceID: requesterOrgId, workplacePath: try r.decode(String.self, 33),
                                   communeID: communeId, communePath: try r.decode(String.self, 34),
                                   branchID: branchId, branchPath: try r.decode(String?.self, 35))
    }

    var variant: FormTemplate.Variant { FormTemplate.Variant(rawValue: formVariant) ?? .A }

    static let csvHeader = ["id", "member_id", "member_full_name", "party_card_number", "purpose", "year", "campaign_id", "confidential",
                            "form_variant", "needed_by", "requester_org_id", "commune_id", "branch_id", "status", "awaiting_org_id",
                            "due_on", "overdue", "send_back_count", "forwarded_on", "submitted_on", "confirmed_on", "closed_on",
                            "cancelled_on", "created_at", "updated_at"]

    var csvRow: [String?] {
        [id.lower, memberId.lower, member.fullName, member.partyCardNumber, purpose.rawValue, String(year), campaignId?.lower,
         confidential ? "true" : "false", formVariant, neededBy.description, requesterOrgId.lower, communeId.lower, branchId?.lower,
         status.rawValue, awaitingOrgId?.lower, dueOn?.description, overdue ? "true" : "false", String(sendBackCount),
         forwardedOn?.description, submittedOn?.description, confirmedOn?.description, closedOn?.description,
         cancelledOn?.description, Timestamp.rfc3339(createdAt), Timestamp.rfc3339(updatedAt)]
    }
}

// MARK: - Confidential requests

extension Policy {
    /// A confidential request (personnel procedures) is visible only to the organizations it
    /// involves themselves, never to their ancestors, which see it only in counts (DESIGN.md §3).
    public static func canSee(_ p: Principal, _ x: Involved, confidential: Bool) -> Bool {
        guard confidential else { return canSee(p, x) }
        return p.orgID == x.workplaceID || p.orgID == x.communeID || p.orgID == x.branchID
    }

    /// SQL condition for lists of assessment requests (alias `r`): binds the caller's path as `$path`
    /// and its organization id as `$org`. The requests table has btree indexes on the organization
    /// ids (see migration 0007), so the subtree becomes an array of ids once per statement. An
    /// involved organization is always in its own subtree, so the confidential rule only narrows.
    public static func requestVisibleSQL(path: Int, org: Int) -> String {
        let subtree = "ARRAY(SELECT id FROM organizations WHERE path <@ $\(path)::ltree)"
        return """
            (r.requester_org_id = ANY(\(subtree)) OR r.commune_id = ANY(\(subtree)) OR r.branch_id = ANY(\(subtree)))
            AND (NOT r.confidential OR $\(org)::uuid IN (r.requester_org_id, r.commune_id) OR r.branch_id = $\(org)::uuid)
            """
    }
}
