import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// Every role × every registry endpoint × every relation of the target to the caller's
/// organization, against the one table below (DESIGN.md §3: outside the scope → 404; inside but
/// the role does not allow it → 403; viewers never write; admins administer the registry; officers
/// act).
///
/// Cells, in the order own, descendant, ancestor, sibling, unrelated (see `MatrixWorld`): a status
/// code, or for lists and dry-run imports `+` (200 and the target is in the answer) and `-` (200
/// and it is not). A few admin cells on `own` are 422: the caller's own organization cannot be
/// moved or merged inside its own scope (tree rules, not access).
final class AccessMatrixTests: XCTestCase {
    //                                              officer                viewer                 admin
    static let table: [(endpoint: String, officer: String, viewer: String, admin: String)] = [
        ("POST /v1/organizations",                  "403 403 403 403 403", "403 403 403 403 403", "201 201 404 404 404"),
        ("GET /v1/organizations",                   "+ + - - -",           "+ + - - -",           "+ + - - -"),
        ("GET /v1/organizations/{id}",              "200 200 404 404 404", "200 200 404 404 404", "200 200 404 404 404"),
        ("PATCH /v1/organizations/{id}",            "403 403 404 404 404", "403 403 404 404 404", "200 200 404 404 404"),
        ("POST /v1/organizations/{id}/move",        "403 403 404 404 404", "403 403 404 404 404", "422 200 404 404 404"),
        ("POST /v1/organizations/{id}/merge",       "403 403 404 404 404", "403 403 404 404 404", "422 200 404 404 404"),
        ("POST /v1/members",                        "201 201 404 404 404", "403 403 403 403 403", "201 201 404 404 404"),
        ("GET /v1/members",                         "+ + - - -",           "+ + - - -",           "+ + - - -"),
        ("GET /v1/members/{id}",                    "200 200 404 404 404", "200 200 404 404 404", "200 200 404 404 404"),
        ("PATCH /v1/members/{id}",                  "200 200 404 404 404", "403 403 404 404 404", "200 200 404 404 404"),
        ("GET /v1/me",                              "200 200 200 200 200", "200 200 200 200 200", "200 200 200 200 200"),
        ("POST /v1/accounts",                       "403 403 403 403 403", "403 403 403 403 403", "201 201 404 404 404"),
        ("GET /v1/accounts",                        "403 403 403 403 403", "+ + - - -",           "+ + - - -"),
        ("GET /v1/accounts/{id}",                   "403 403 404 404 404", "200 200 404 404 404", "200 200 404 404 404"),
        ("POST /v1/accounts/{id}/disable",          "403 403 404 404 404", "403 403 404 404 404", "200 200 404 404 404"),
        ("POST /v1/tokens",                         "403 403 404 404 404", "403 403 404 404 404", "201 201 404 404 404"),
        ("GET /v1/tokens",                          "- - - - -",           "- - - - -",           "+ + - - -"),
        ("GET /v1/tokens/{id}",                     "404 404 404 404 404", "404 404 404 404 404", "200 200 404 404 404"),
        ("DELETE /v1/tokens/{id}",                  "404 404 404 404 404", "404 404 404 404 404", "204 204 404 404 404"),
        ("POST /v1/imports/organizations",          "403 403 403 403 403", "403 403 403 403 403", "+ + - - -"),
        ("POST /v1/imports/members",                "+ + - - -",           "403 403 403 403 403", "+ + - - -"),
    ]

    typealias Probe = @Sendable (MatrixWorld, Role, MatrixRelation) throws -> MatrixOutcome

    /// How each endpoint is called for a relation. Targets that a case changes are fresh.
    static let probes: [String: Probe] = [
        "POST /v1/organizations": { w, role, r in
            let parent = w.target(r)
            let child = MatrixWorld.childSpec(under: parent.kind)
            return .status(try w.call(role, "POST", "/v1/organizations", json: [
                "parent_id": parent.id.lower, "kind": child.kind, "sector": child.sector, "code": w.unique("NEW-"), "name": "Chi bộ mới",
            ]).status)
        },
        "GET /v1/organizations": { w, role, r in
            let target = w.target(r).id
            return MatrixWorld.listed(try w.call(role, "GET", "/v1/organizations?subtree_of=\(target.lower)"), id: target)
        },
        "GET /v1/organizations/{id}": { w, role, r in
            .status(try w.call(role, "GET", "/v1/organizations/\(w.target(r).id.lower)").status)
        },
        "PATCH /v1/organizations/{id}": { w, role, r in
            .status(try w.call(role, "PATCH", "/v1/organizations/\(w.target(r).id.lower)", json: ["name": "Tên mới \(w.unique(""))"]).status)
        },
        "POST /v1/organizations/{id}/move": { w, role, r in
            let moved = try w.disposableOrg(r)
            return .status(try w.call(role, "POST", "/v1/organizations/\(moved.lower)/move",
                                      json: ["new_parent_id": w.target(.own).id.lower]).status)
        },
        "POST /v1/organizations/{id}/merge": { w, role, r in
            let merged = try w.disposableOrg(r)
            let into = try w.org(under: w.target(.own).id, kind: "partial_committee", sector: "agency")
            return .status(try w.call(role, "POST", "/v1/organizations/\(merged.lower)/merge", json: ["into_id": into.lower]).status)
        },
        "POST /v1/members": { w, role, r in
            .status(try w.call(role, "POST", "/v1/members", json: [
                "party_card_number": w.unique("NEWCARD"), "full_name": "Trần Văn Bình", "sex": "male",
                "birth_date": "1975-03-02", "workplace_org_id": w.target(r).id.lower,
            ]).status)
        },
        "GET /v1/members": { w, role, r in
            let member = try w.member(at: w.target(r).id)
            return MatrixWorld.listed(try w.call(role, "GET", "/v1/members?org_id=\(w.target(r).id.lower)&limit=500"), id: member)
        },
        "GET /v1/members/{id}": { w, role, r in
            .status(try w.call(role, "GET", "/v1/members/\(try w.member(at: w.target(r).id).lower)").status)
        },
        "PATCH /v1/members/{id}": { w, role, r in
            let member = try w.member(at: w.target(r).id)
            return .status(try w.call(role, "PATCH", "/v1/members/\(member.lower)", json: ["full_name": "Lê Thị Hoa"]).status)
        },
        "GET /v1/me": { w, role, _ in
            .status(try w.call(role, "GET", "/v1/me").status)
        },
        "POST /v1/accounts": { w, role, r in
            .status(try w.call(role, "POST", "/v1/accounts", json: [
                "org_id": w.target(r).id.lower, "role": "viewer", "name": "Cán bộ \(w.unique(""))",
            ]).status)
        },
        "GET /v1/accounts": { w, role, r in
            let account = try w.account(at: w.target(r).id, role: .officer)
            return MatrixWorld.listed(try w.call(role, "GET", "/v1/accounts?org_id=\(w.target(r).id.lower)&limit=500"), id: account)
        },
        "GET /v1/accounts/{id}": { w, role, r in
            .status(try w.call(role, "GET", "/v1/accounts/\(try w.account(at: w.target(r).id, role: .officer).lower)").status)
        },
        "POST /v1/accounts/{id}/disable": { w, role, r in
            let account = try w.account(at: w.target(r).id, role: .officer)
            return .status(try w.call(role, "POST", "/v1/accounts/\(account.lower)/disable", json: [:]).status)
        },
        "POST /v1/tokens": { w, role, r in
            let account = try w.account(at: w.target(r).id, role: .officer)
            return .status(try w.call(role, "POST", "/v1/tokens", json: ["account_id": account.lower, "name": "tích hợp"]).status)
        },
        "GET /v1/tokens": { w, role, r in
            let account = try w.account(at: w.target(r).id, role: .officer)
            let token = try w.token(for: account)
            return MatrixWorld.listed(try w.call(role, "GET", "/v1/tokens?account_id=\(account.lower)"), id: token)
        },
        "GET /v1/tokens/{id}": { w, role, r in
            let token = try w.token(for: try w.account(at: w.target(r).id, role: .officer))
            return .status(try w.call(role, "GET", "/v1/tokens/\(token.lower)").status)
        },
        "DELETE /v1/tokens/{id}": { w, role, r in
            let token = try w.token(for: try w.account(at: w.target(r).id, role: .officer))
            return .status(try w.call(role, "DELETE", "/v1/tokens/\(token.lower)").status)
        },
        "POST /v1/imports/organizations": { w, role, r in
            let parent = w.target(r)
            let child = MatrixWorld.childSpec(under: parent.kind)
            let csv = "code,name,kind,sector,parent_code\r\n\(w.unique("IMP-")),Chi bộ nhập,\(child.kind),\(child.sector),\(parent.code)\r\n"
            return MatrixWorld.importedRow(try w.call(role, "POST", "/v1/imports/organizations?dry_run=true",
                                                      body: Array(csv.utf8), contentType: "text/csv; charset=utf-8"))
        },
        "POST /v1/imports/members": { w, role, r in
            let csv = "party_card_number,full_name,sex,birth_date,workplace_code\r\n"
                + "\(w.unique("IMPCARD")),Phạm Văn An,male,1970-01-01,\(w.target(r).code)\r\n"
            return MatrixWorld.importedRow(try w.call(role, "POST", "/v1/imports/members?dry_run=true",
                                                      body: Array(csv.utf8), contentType: "text/csv; charset=utf-8"))
        },
    ]

    /// Route patterns the matrix must cover: every registry route of issue 4.
    static let registryPrefixes = ["/v1/organizations", "/v1/members", "/v1/me", "/v1/accounts", "/v1/tokens", "/v1/imports"]

    func testEveryRoleEndpointAndRelation() throws {
        let w = try MatrixWorld()
        defer { w.stop() }

        // The table and the probes describe the same endpoints, and every registry route is in them.
        let endpoints = Self.table.map(\.endpoint)
        XCTAssertEqual(Set(endpoints).count, endpoints.count, "an endpoint is listed twice")
        XCTAssertEqual(Set(endpoints), Set(Self.probes.keys), "table rows and probes differ")
        let routes = w.t.app.server.router.routes
            .filter { route in Self.registryPrefixes.contains { route.pattern == $0 || route.pattern.hasPrefix($0 + "/") } }
            .map { "\($0.method) \($0.pattern)" }
        XCTAssertFalse(routes.isEmpty)
        for route in routes {
            XCTAssertTrue(Set(endpoints).contains(route), "\(route) is registered but not in the access matrix")
        }

        var cases = 0
        var mismatches: [String] = []
        for row in Self.table {
            guard let probe = Self.probes[row.endpoint] else { continue }
            for (role, cells) in [(Role.officer, row.officer), (.viewer, row.viewer), (.admin, row.admin)] {
                let expected = cells.split(separator: " ").map(MatrixOutcome.init(cell:))
                XCTAssertEqual(expected.count, MatrixRelation.allCases.count, "\(row.endpoint) \(role): wrong number of cells")
                for (relation, want) in zip(MatrixRelation.allCases, expected) {
                    cases += 1
                    let got = try probe(w, role, relation)
                    if got != want {
                        mismatches.append("\(row.endpoint) as \(role.rawValue) on \(relation.rawValue): expected \(want), got \(got)")
                    }
                }
            }
        }
        XCTAssertEqual(cases, Self.table.count * Role.allCases.count * MatrixRelation.allCases.count)
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) of \(cases) cases differ:\n" + mismatches.joined(separator: "\n"))
    }

    /// The cells above are parsed, not trusted: a cell that is not a status, `+` or `-` fails, and an
    /// outcome compares by value.
    func testCellsParse() {
        XCTAssertEqual(MatrixOutcome(cell: "404"), .status(404))
        XCTAssertEqual(MatrixOutcome(cell: "+"), .included(true))
        XCTAssertEqual(MatrixOutcome(cell: "-"), .included(false))
        XCTAssertNotEqual(MatrixOutcome(cell: "200"), .included(true))
    }
}
