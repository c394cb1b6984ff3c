import Foundation
import HTTP
import Postgres

/// The one place that decides who may see and do what (DESIGN.md §3 "Auth"):
/// - scope is the caller organization's subtree (`path <@ caller.orgPath`), widened later by the
///   exchanges (introductions, notices, requests) to the organizations they involve;
/// - outside the scope → 404 (existence is never revealed); inside but the role does not allow the
///   action → 403;
/// - viewers never write; officers act within their subtree; admins also manage organizations,
///   accounts, tokens and imports of their subtree;
/// - members exempt from introduction are invisible to every residence-side account.
public enum Policy {
    public enum Action: Sendable {
        case read
        /// Day-to-day work for an organization (members, exchanges).
        case act
        /// Registry administration (organizations, accounts, tokens, imports).
        case administer
    }

    /// Is `path` inside the caller's subtree? (Both are ltree text: "a.b.c".)
    public static func contains(_ p: Principal, path: String) -> Bool {
        path == p.orgPath || path.hasPrefix(p.orgPath + ".")
    }

    /// Throws 404 when the object at `path` is outside the caller's scope, 403 when the role does not
    /// allow `action` there.
    public static func require(_ p: Principal, _ action: Action, at path: String, what: String) throws {
        guard contains(p, path: path) else { throw APIError.notFound(what) }
        try require(p, action)
    }

    /// Role check alone (for creations, where the scope check is on the parent or target org).
    public static func require(_ p: Principal, _ action: Action) throws {
        switch (action, p.role) {
        case (.read, _), (.act, .officer), (.act, .admin), (.administer, .admin): return
        case (.act, .viewer), (.administer, .viewer): throw APIError.forbidden("Viewer accounts cannot change anything.")
        case (.administer, .officer): throw APIError.forbidden("Only an admin account can manage the registry.")
        }
    }

    /// SQL condition restricting `pathColumn` to the caller's subtree, binding the path as `$n`.
    public static func subtreeSQL(_ pathColumn: String, param n: Int) -> String { "\(pathColumn) <@ $\(n)::ltree" }

    /// SQL condition hiding introduction-exempt members from residence-side callers.
    public static func memberVisibilitySQL(_ p: Principal, exemptionColumn: String) -> String {
        p.isResidenceSide ? "\(exemptionColumn) <> 'introduction'" : "TRUE"
    }
}

extension AppContext {
    /// The authenticated caller; 401 on routes reached without `Authentication`.
    public func caller() throws -> Principal {
        guard let p = principal else { throw APIError.unauthenticated }
        return p
    }
}

// MARK: - Exchanges (introductions, notices, requests)

extension Policy {
    /// The paths of the organizations an exchange involves: its workplace side, the addressed
    /// commune and (once assigned) the residential branch.
    public struct Involved: Sendable {
        public var workplaceID: UUID
        public var workplacePath: String
        public var communeID: UUID
        public var communePath: String
        public var branchID: UUID?
        public var branchPath: String?
    }

    /// An exchange is visible to every organization it involves and to their ancestors.
    public static func canSee(_ p: Principal, _ x: Involved) -> Bool {
        contains(p, path: x.workplacePath) || contains(p, path: x.communePath) || x.branchPath.map { contains(p, path: $0) } == true
    }

    /// SQL condition for lists of exchanges, binding the caller's path as `$n`.
    public static func exchangeVisibleSQL(alias a: String, param n: Int) -> String {
        "(\(a).workplace_path <@ $\(n)::ltree OR \(a).commune_path <@ $\(n)::ltree OR \(a).branch_path <@ $\(n)::ltree)"
    }

    /// Which side the caller acts for: only accounts of the involved organization itself act for it
    /// (an ancestor watches, it does not sign for its children). Viewers act for no side.
    public static func side(_ p: Principal, _ x: Involved) -> ExchangeSide {
        guard p.role != .viewer else { return .other }
        if p.orgID == x.workplaceID { return .workplace }
        if p.orgID == x.communeID { return .commune }
        if let b = x.branchID, p.orgID == b { return .branch }
        return .other
    }

    /// Turns a state-machine refusal into the API's answer: 403 for the wrong side, 409 with the
    /// current state for the wrong state.
    public static func refusal(_ r: TransitionRefusal, action: String) -> APIError {
        switch r {
        case .wrongSide(let required):
            return APIError(status: 403, code: "not_your_action",
                            detail: "Only the \(required.rawValue) side may \(action) this item.")
        case .invalidState(let current):
            return APIError(status: 409, code: "invalid_transition",
                            detail: "Cannot \(action) an item whose status is \(current).", extra: ["current_status": current])
        }
    }
}

// MARK: - Accounts and tokens

extension Policy {
    /// Lists of accounts are registry reading: admins and viewers (of their subtree); officers → 403.
    public static func requireAccountListing(_ p: Principal) throws {
        guard p.role != .officer else { throw APIError.forbidden("Officer accounts cannot list accounts.") }
    }

    /// One account: everyone reads its own; admins and viewers read those of their subtree; outside
    /// the subtree → 404; an officer reading another account of its subtree → 403.
    public static func requireAccountRead(_ p: Principal, accountID: UUID, orgPath: String) throws {
        if accountID == p.accountID { return }
        guard contains(p, path: orgPath) else { throw APIError.notFound("account") }
        try requireAccountListing(p)
    }

    /// Creating a token: any account for itself; for another account, only an admin of that
    /// account's organization subtree (404 outside the subtree, 403 for other roles inside it).
    public static func requireTokenCreation(_ p: Principal, accountID: UUID, orgPath: String) throws {
        if accountID == p.accountID { return }
        try require(p, .administer, at: orgPath, what: "account")
    }

    /// Tokens are private to their account: seen, listed and revoked by it and by admins of its
    /// organization's subtree, by no one else (404: not even their existence is revealed).
    public static func canManageTokens(_ p: Principal, accountID: UUID, orgPath: String) -> Bool {
        accountID == p.accountID || (p.role == .admin && contains(p, path: orgPath))
    }

    /// SQL condition for token lists matching `canManageTokens`; binds `value` as `$n`.
    public static func tokenScopeSQL(_ p: Principal, accountColumn: String, orgPathColumn: String,
                                     param n: Int) -> (sql: String, value: any PostgresEncodable) {
        p.role == .admin ? (subtreeSQL(orgPathColumn, param: n), p.orgPath) : ("\(accountColumn) = $\(n)", p.accountID)
    }
}

// MARK: - Members

extension Policy {
    /// A member is in scope for the accounts of its workplace and their ancestors, and for the
    /// residence side (the commune and branch of a live introduction, and their ancestors) while
    /// that link is live. Binds the caller's path as `$n`.
    public static func memberScopeSQL(alias m: String, param n: Int) -> String {
        """
        (\(m).workplace_path <@ $\(n)::ltree OR EXISTS (SELECT 1 FROM introductions li WHERE li.member_id = \(m).id
            AND li.status IN ('sent', 'received', 'assigned', 'active') AND (li.commune_path <@ $\(n)::ltree OR li.branch_path <@ $\(n)::ltree)))
        """
    }

    /// Member records are written by their workplace side only; the residence sees them and learns
    /// of changes through change notices.
    public static func requireMemberWrite(_ p: Principal, workplacePath: String) throws {
        guard contains(p, path: workplacePath) else {
            throw APIError.forbidden("Only the member's workplace side changes the member record; the residence is told through change notices.")
        }
        try require(p, .act)
    }
}
