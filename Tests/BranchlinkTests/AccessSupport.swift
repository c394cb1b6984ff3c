import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// A small organization tree for the access tests, built through the API by a root admin:
///
///     TW (root) ── P (province) ── C (commune of P)
///               └─ Q (province, unrelated to P)
final class AccessFixture {
    static let root = "00000000-0000-4000-8000-000000000001"
    let t: TestApp
    let db: Connection
    let rootAdmin: String
    var p = "", c = "", q = ""

    init(_ t: TestApp) throws {
        self.t = t
        db = try Connection(t.databaseURL)
        rootAdmin = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .admin, name: "root admin").secret
        p = try org(Self.root, "province", "province", "P", "Tỉnh P")
        c = try org(p, "commune", "commune", "P-C", "Xã C")
        q = try org(Self.root, "province", "province", "Q", "Tỉnh Q")
    }

    func call(_ token: String, _ method: String, _ path: String, _ body: [String: Any]? = nil,
              headers: [String: String] = [:]) throws -> TestResponse {
        var h = headers
        h["Authorization"] = "Bearer \(token)"
        var bytes: [UInt8] = []
        if let body {
            h["Content-Type"] = "application/json"
            bytes = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        }
        return try TestHTTP.request(port: t.port, method: method, path: path, headers: h, body: bytes)
    }

    func org(_ parent: String, _ kind: String, _ sector: String, _ code: String, _ name: String) throws -> String {
        let r = try call(rootAdmin, "POST", "/v1/organizations", ["parent_id": parent, "kind": kind, "sector": sector, "code": code, "name": name])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    /// Creates an account through the API (as `by`, default the root admin) and returns its id.
    func account(_ orgID: String, _ role: String, _ name: String, by: String? = nil) throws -> String {
        let r = try call(by ?? rootAdmin, "POST", "/v1/accounts", ["org_id": orgID, "role": role, "name": name])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    /// Creates a token for `accountID` through the API and returns (token id, secret).
    func token(for accountID: String, name: String = "test", by: String? = nil) throws -> (id: String, secret: String) {
        let r = try call(by ?? rootAdmin, "POST", "/v1/tokens", ["account_id": accountID, "name": name])
        XCTAssertEqual(r.status, 201, r.text)
        let json = try r.json()
        return (try XCTUnwrap(json["id"] as? String), try XCTUnwrap(json["token"] as? String))
    }

    /// An account with a working token.
    func principal(_ orgID: String, _ role: String, _ name: String) throws -> (account: String, token: String) {
        let id = try account(orgID, role, name)
        return (id, try token(for: id).secret)
    }

    func count(_ sql: String, _ params: any PostgresEncodable...) throws -> Int {
        try XCTUnwrap(try db.queryRow(sql, parameters: params)).decode(Int.self, 0)
    }
}

extension TestResponse {
    var problemCode: String? { (try? json())?["code"] as? String }
    var listItems: [[String: Any]] { ((try? json())?["items"] as? [[String: Any]]) ?? [] }
}
