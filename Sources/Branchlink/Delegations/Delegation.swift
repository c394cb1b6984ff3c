import Foundation
import HTTP
import Postgres

/// A time-boxed permission for another account to act for an organization: the delegate sends
/// `Acting-For: <org_id>` and the request runs with that organization's scope and the officer role
/// (never admin), recorded with both identities (events: actor = delegate, acting_for = the
/// organization, delegation_id; audit: account, account_org_id, org_id, acting_for).
public struct Delegation: Sendable {
    public var id: UUID
    public var orgID: UUID
    public var grantorAccountID: UUID
    public var delegateAccountID: UUID
    public var validFrom: Date
    public var validUntil: Date
    public var reason: String?
    public var revokedAt: Date?
    public var revokedByAccountID: UUID?
    /// `scheduled`, `active`, `expired` or `revoked`, derived at read time.
    public var status: String
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var orgPath: String

    static let columns = """
        d.id, d.org_id, d.grantor_account_id, d.delegate_account_id, d.valid_from, d.valid_until, d.reason, d.revoked_at,
        d.revoked_by_account_id,
        CASE WHEN d.revoked_at IS NOT NULL THEN 'revoked' WHEN d.valid_until <= now() THEN 'expired'
             WHEN d.valid_from > now() THEN 'scheduled' ELSE 'active' END,
        d.created_at, d.updated_at, d.version, o.path::text
        """
    static let from = "delegations d JOIN organizations o ON o.id = d.org_id"

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        orgID = try row.decode(UUID.self, 1)
        grantorAccountID = try row.decode(UUID.self, 2)
        delegateAccountID = try row.decode(UUID.self, 3)
        validFrom = try row.decode(Date.self, 4)
        validUntil = try row.decode(Date.self, 5)
        reason = try row.decode(String?.self, 6)
        revokedAt = try row.decode(Date?.self, 7)
        revokedByAccountID = try row.decode(UUID?.self, 8)
        status = try row.decode(String.self, 9)
        createdAt = try row.decode(Date.self, 10)
        updatedAt = try row.decode(Date.self, 11)
        version = try row.decode(Int.self, 12)
        orgPath = try row.decode(String.self, 13)
    }

    var json: [UInt8] {
        var j = JSONBytes()
        func time(_ d: Date?) { if let d { j.string(Timestamp.rfc3339(d)) } else { j.null() } }
        j.raw("{\"id\":"); j.uuid(id)
        j.raw(",\"org_id\":"); j.uuid(orgID)
        j.raw(",\"grantor_account_id\":"); j.uuid(grantorAccountID)
        j.raw(",\"delegate_account_id\":"); j.uuid(delegateAccountID)
        j.raw(",\"valid_from\":"); time(validFrom)
        j.raw(",\"valid_until\":"); time(validUntil)
        j.raw(",\"reason\":"); j.string(reason)
        j.raw(",\"status\":"); j.string(status)
        j.raw(",\"revoked_at\":"); time(revokedAt)
        j.raw(",\"revoked_by_account_id\":"); if let r = revokedByAccountID { j.uuid(r) } else { j.null() }
        j.raw(",\"created_at\":"); time(createdAt)
        j.raw(",\"updated_at\":"); time(updatedAt)
        j.raw(",\"version\":"); j.int(version)
        j.raw("}")
        return j.bytes
    }

    static let csvHeader = ["id", "org_id", "grantor_account_id", "delegate_account_id", "valid_from", "valid_until", "reason", "status",
                            "revoked_at", "revoked_by_account_id", "created_at", "updated_at", "version"]

    var csvRow: [String?] {
        [id.lower, orgID.lower, grantorAccountID.lower, delegateAccountID.lower, Timestamp.rfc3339(validFrom), Timestamp.rfc3339(validUntil),
         reason, status, revokedAt.map(Timestamp.rfc3339), revokedByAccountID?.lower, Timestamp.rfc3339(createdAt),
         Timestamp.rfc3339(updatedAt), String(version)]
    }
}

/// The pure rules of delegation.
public enum DelegationRules {
    /// Longest period: one calendar year from `valid_from` (also a CHECK in the table).
    public static func latestEnd(from start: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(byAdding: .year, value: 1, to: start) ?? start.addingTimeInterval(365 * 24 * 3600)
    }

    /// How far back `valid_from` may lie (clock skew between client and server); earlier is refused.
    public static let pastTolerance: TimeInterval = 300

    /// The problem with a requested period, as (field, code, message), or nil when it is acceptable.
    public static func periodProblem(from: Date, until: Date, now: Date) -> (field: String, code: String, message: String)? {
        if from < now.addingTimeInterval(-pastTolerance) { return ("valid_from", "out_of_range", "must not be in the past") }
        if until <= from { return ("valid_until", "out_of_range", "must be after valid_from") }
        if until > latestEnd(from: from) { return ("valid_until", "out_of_range", "must be at most one year after valid_from") }
        return nil
    }

    /// Reach: an organization may delegate to an account of itself, of an organization below it, or
    /// of its parent (the committee above standing in). Siblings, other branches of the tree and
    /// accounts above the parent are out of reach (and answered like unknown accounts, 404).
    public static func inReach(delegatingPath: String, delegatePath: String) -> Bool {
        if delegatePath == delegatingPath || delegatePath.hasPrefix(delegatingPath + ".") { return true }
        guard let dot = delegatingPath.lastIndex(of: ".") else { return false }
        return delegatePath == String(delegatingPath[..<dot])
    }
}
