import Foundation

public enum Role: String, CaseIterable, Sendable, Codable {
    /// Acts for its organization (and reads its subtree).
    case officer
    /// Reads its organization's subtree; never writes.
    case viewer
    /// Manages its subtree: organizations, accounts, tokens, imports.
    case admin
}

/// Who is calling: resolved from the bearer token once per request by `Authentication`.
public struct Principal: Sendable {
    public let accountID: UUID
    public let accountName: String
    public let tokenID: UUID
    public let role: Role
    public let orgID: UUID
    public let orgKind: String
    /// ltree path of the account's organization: its subtree is `path <@ orgPath`.
    public let orgPath: String

    /// Residence-side organizations (communes, wards and their residential branches) never see
    /// members exempt from introduction (HD 33 §1.2).
    public var isResidenceSide: Bool { orgKind == "commune" || (orgKind == "branch" && residentialBranch) }
    let residentialBranch: Bool
    /// Set when the request acts for another organization under a delegation (`Acting-For`): then
    /// `orgID`/`orgPath` are the delegating organization's, `role` is `officer`, and `homeOrgID` is
    /// the delegate account's own organization.
    public var delegationID: UUID? = nil
    public var homeOrgID: UUID? = nil

    /// The account's own organization, delegated or not.
    public var accountOrgID: UUID { homeOrgID ?? orgID }
}
