import Branchlink
import Foundation
import Postgres
import XCTest

/// A small province for exchange tests, built with SQL (independent of the registry endpoints):
///   TW → P1 (province) → C1 (commune) → B1, B1b (residential branches)
///                     → C2 (commune, unrelated to the members)
///                     → W1 (workplace committee) → W1a (its branch, where the members work)
///                     → W2 (another workplace committee)
/// with tokens for each side and members working in W1a, living in C1.
final class ExchangeFixture {
    let t: TestApp
    let db: Connection
    var orgs: [String: String] = [:]
    var tokens: [String: String] = [:]
    var members: [String] = []

    init(members count: Int = 3, configure: (inout Application.Options) -> Void = { _ in }) throws {
        t = try TestApp(configure: configure)
        db = try Connection(t.databaseURL)
        let root = "00000000-0000-4000-8000-000000000001"
        func org(_ code: String, parent: String, kind: String, sector: String) throws {
            let id = UUID().uuidString.lowercased()
            try db.execute("""
                INSERT INTO organizations (id, parent_id, path, kind, sector, code, name)
                SELECT $1::uuid, $2::uuid, path || org_label($1::uuid), $3, $4, $5, $6 FROM organizations WHERE id = $2::uuid
                """, id, orgs[parent] ?? root, kind, sector, code, "Tổ chức \(code)")
            orgs[code] = id
        }
        try org("P1", parent: "TW", kind: "province", sector: "province")
        try org("C1", parent: "P1", kind: "commune", sector: "ward")
        try org("B1", parent: "C1", kind: "branch", sector: "other")
        try org("B1b", parent: "C1", kind: "branch", sector: "other")
        try org("C2", parent: "P1", kind: "commune", sector: "commune")
        try org("B2", parent: "C2", kind: "branch", sector: "other")
        try org("W1", parent: "P1", kind: "grassroots_committee", sector: "agency")
        try org("W1a", parent: "W1", kind: "branch", sector: "agency")
        try org("W2", parent: "P1", kind: "grassroots_committee", sector: "enterprise_state")
        for (name, code, role) in [("workplace", "W1", Role.officer), ("commune", "C1", .officer), ("branch", "B1", .officer),
                                   ("viewer", "P1", .viewer), ("other_commune", "C2", .officer), ("other_workplace", "W2", .officer),
                                   ("admin", "P1", .admin)] {
            tokens[name] = try TokenIssuer.createAccountWithToken(db, orgCode: code, role: role, name: name).secret
        }
        for i in 0..<count { members.append(try addMember(i, exemption: "none")) }
    }

    func addMember(_ i: Int, exemption: String, workplace: String = "W1a", commune: String = "C1") throws -> String {
        let id = UUID().uuidString.lowercased()
        try db.execute("""
            INSERT INTO members (id, party_card_number, full_name, sex, birth_date, workplace_org_id, workplace_path,
                residence_province_id, residence_commune_id, residence_address, exemption, exemption_ground)
            SELECT $1::uuid, $2, $3, 'female', DATE '1980-05-17', o.id, o.path, $4::uuid, $5::uuid, 'Số 5, tổ 3', $6, $7
            FROM organizations o WHERE o.id = $8::uuid
            """, id, "93\(String(format: "%06d", i))\(Int.random(in: 10...99))", "Nguyễn Thị Hòa \(i)", orgs["P1"]!, orgs[commune]!,
            exemption, exemption == "none" ? nil : "Miễn theo HD 33", orgs[workplace]!)
        return id
    }

    func stop() { t.stop() }

    @discardableResult
    func call(_ who: String, _ method: String, _ path: String, _ body: [String: Any]? = nil, headers: [String: String] = [:]) throws -> TestResponse {
        var h = headers
        h["Authorization"] = "Bearer \(tokens[who]!)"
        var bytes: [UInt8] = []
        if let body {
            h["Content-Type"] = "application/json"
            bytes = Array(try JSONSerialization.data(withJSONObject: body))
        }
        return try TestHTTP.request(port: t.port, method: method, path: path, headers: h, body: bytes)
    }
}
