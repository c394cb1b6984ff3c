import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// Where a request's target sits relative to the caller's organization.
enum MatrixRelation: String, CaseIterable {
    case own, descendant, ancestor, sibling, unrelated
}

/// What one request of the matrix observed: a status, or for lists and imports whether the target
/// was in the answer (`200` with it: `+`; `200` without it: `-`).
enum MatrixOutcome: Equatable, CustomStringConvertible {
    case status(Int)
    case included(Bool)

    /// Parses one cell of the table: a status code, `+` or `-`.
    init(cell: Substring) {
        switch cell {
        case "+": self = .included(true)
        case "-": self = .included(false)
        default:
            guard let status = Int(cell) else { preconditionFailure("bad matrix cell \(cell)") }
            self = .status(status)
        }
    }

    var description: String {
        switch self {
        case .status(let s): String(s)
        case .included(let yes): yes ? "+" : "-"
        }
    }
}

/// The tree every matrix case runs in, built straight in the database (no API call can skew the
/// results), and one token per role at the caller's organization W1:
///
///     TW ── P1 ─┬─ W1 (grassroots committee) ── W1p (partial committee) ── W1a (branch)
///               ├─ W3 (grassroots committee, sibling of W1)
///               └─ C1 (commune) ── B1 (residential branch)
///        └─ P2 ─┬─ W2 (grassroots committee, unrelated)
///               └─ C2 (ward)
///
/// Relations of a target to W1: own W1, descendant W1p, ancestor P1, sibling W3, unrelated W2.
final class MatrixWorld {
    static let root = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
    static let callerCode = "W1"
    static let relationCodes: [MatrixRelation: String] = [
        .own: "W1", .descendant: "W1p", .ancestor: "P1", .sibling: "W3", .unrelated: "W2",
    ]

    let t: TestApp
    let db: Connection
    private(set) var orgs: [String: UUID] = ["TW": MatrixWorld.root]
    private(set) var kinds: [String: String] = ["TW": "central"]
    private(set) var tokens: [Role: String] = [:]
    private(set) var accounts: [Role: UUID] = [:]
    private var serial = 0

    init() throws {
        t = try TestApp { $0.rateLimiter = RateLimiter(limit: 1_000_000, windowSeconds: 60) }
        db = try Connection(t.databaseURL)
        try org("P1", under: "TW", kind: "province", sector: "province")
        try org("P2", under: "TW", kind: "province", sector: "province")
        try org("W1", under: "P1", kind: "grassroots_committee", sector: "agency")
        try org("W1p", under: "W1", kind: "partial_committee", sector: "agency")
        try org("W1a", under: "W1p", kind: "branch", sector: "agency")
        try org("W3", under: "P1", kind: "grassroots_committee", sector: "enterprise_state")
        try org("C1", under: "P1", kind: "commune", sector: "commune")
        try org("B1", under: "C1", kind: "branch", sector: "other")
        try org("W2", under: "P2", kind: "grassroots_committee", sector: "police")
        try org("C2", under: "P2", kind: "commune", sector: "ward")
        for role in Role.allCases {
            let id = try account(at: orgs[Self.callerCode]!, role: role)
            accounts[role] = id
            tokens[role] = try TokenIssuer.issue(db, accountID: id, name: "matrix \(role.rawValue)").secret
        }
    }

    func stop() { t.stop() }

    func unique(_ prefix: String) -> String {
        serial += 1
        return "\(prefix)\(serial)"
    }

    /// Inserts an organization under the one with code `parent` (no placement rules: the tree is
    /// the test's fixture, not a subject).
    @discardableResult
    func org(_ code: String, under parent: String, kind: String, sector: String) throws -> UUID {
        let id = try org(under: orgs[parent]!, kind: kind, sector: sector, code: code)
        orgs[code] = id
        kinds[code] = kind
        return id
    }

    func org(under parentID: UUID, kind: String, sector: String, code: String? = nil) throws -> UUID {
        let id = UUID()
        let code = code ?? unique("X")
        let inserted = try db.execute("""
            INSERT INTO organizations (id, parent_id, path, kind, sector, code, name, valid_from)
            SELECT $1, p.id, p.path || org_label($1), $2, $3, $4, $5, DATE '2020-01-01' FROM organizations p WHERE p.id = $6
            """, id, kind, sector, code, "Tổ chức \(code)", parentID)
        precondition(inserted == 1, "no parent \(parentID)")
        return id
    }

    /// The organization a relation names, with its code and kind.
    func target(_ r: MatrixRelation) -> (id: UUID, code: String, kind: String) {
        let code = Self.relationCodes[r]!
        return (orgs[code]!, code, kinds[code]!)
    }

    /// A fresh partial committee in the relation's position for destructive cases (move, merge):
    /// W1 itself for `own`, otherwise a new node under W1 (descendant) or beside the others.
    func disposableOrg(_ r: MatrixRelation) throws -> UUID {
        switch r {
        case .own: return orgs["W1"]!
        case .descendant: return try org(under: orgs["W1"]!, kind: "partial_committee", sector: "agency")
        case .ancestor: return orgs["P1"]!
        case .sibling: return try org(under: orgs["W3"]!, kind: "partial_committee", sector: "agency")
        case .unrelated: return try org(under: orgs["W2"]!, kind: "partial_committee", sector: "police")
        }
    }

    func member(at orgID: UUID) throws -> UUID {
        let id = UUID()
        try db.execute("""
            INSERT INTO members (id, party_card_number, full_name, sex, birth_date, workplace_org_id, workplace_path)
            SELECT $1, $2, 'Nguyễn Thị Mai', 'female', DATE '1980-05-17', o.id, o.path FROM organizations o WHERE o.id = $3
            """, id, unique("MXC0"), orgID)
        return id
    }

    func account(at orgID: UUID, role: Role) throws -> UUID {
        let id = UUID()
        try db.execute("INSERT INTO accounts (id, org_id, role, name) VALUES ($1, $2, $3, $4)", id, orgID, role.rawValue, unique("account "))
        return id
    }

    func token(for accountID: UUID) throws -> UUID {
        try TokenIssuer.issue(db, accountID: accountID, name: unique("token ")).id
    }

    func call(_ role: Role, _ method: String, _ path: String, json: [String: Any]? = nil,
              body: [UInt8] = [], contentType: String? = nil) throws -> TestResponse {
        var headers = ["Authorization": "Bearer \(tokens[role]!)"]
        var bytes = body
        if let json {
            headers["Content-Type"] = "application/json"
            bytes = Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
        }
        if let contentType { headers["Content-Type"] = contentType }
        return try TestHTTP.request(port: t.port, method: method, path: path, headers: headers, body: bytes)
    }

    /// `+`/`-` for a 200 list: whether an item has `id`; the status otherwise.
    static func listed(_ r: TestResponse, id: UUID, key: String = "id") -> MatrixOutcome {
        guard r.status == 200 else { return .status(r.status) }
        let items = ((try? r.json())?["items"] as? [[String: Any]]) ?? []
        return .included(items.contains { ($0[key] as? String) == id.lower })
    }

    /// `+`/`-` for a 200 import report of one row: whether the row is ok; the status otherwise.
    static func importedRow(_ r: TestResponse) -> MatrixOutcome {
        guard r.status == 200 else { return .status(r.status) }
        let results = ((try? r.json())?["results"] as? [[String: Any]]) ?? []
        return .included(results.count == 1 && results[0]["ok"] as? Bool == true)
    }

    /// Kind and sector of a child that may be placed under an organization of `parentKind`.
    static func childSpec(under parentKind: String) -> (kind: String, sector: String) {
        switch parentKind {
        case "central": ("province", "province")
        case "province": ("commune", "commune")
        case "grassroots_committee": ("partial_committee", "agency")
        case "partial_committee", "commune": ("branch", "other")
        default: ("branch", "other")
        }
    }
}
