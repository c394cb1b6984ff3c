import Branchlink
import Foundation
import Postgres
import XCTest

/// The demo generator (pure) and loader (database, tokens, demo.json).
final class DemoGeneratorTests: XCTestCase {
    static let root = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
    static let rootPath = "o00000000000040008000000000000001"

    func province(seed: UInt64 = DemoLoader.defaultSeed, members: Int = 5000) -> DemoProvince {
        DemoProvince(seed: seed, number: 1, members: members, parentID: Self.root, parentPath: Self.rootPath)
    }

    func testSameSeedSameMembersOtherSeedOthers() {
        let a = Array(province().members().prefix(100))
        let b = Array(province().members().prefix(100))
        XCTAssertEqual(a.map(\.fullName), b.map(\.fullName))
        XCTAssertEqual(a.map(\.id), b.map(\.id))
        XCTAssertEqual(a.map(\.residenceAddress), b.map(\.residenceAddress))
        XCTAssertEqual(province().organizations.map(\.id), province().organizations.map(\.id))
        let c = Array(province(seed: 7).members().prefix(100))
        XCTAssertGreaterThan(zip(a, c).filter { $0.fullName != $1.fullName }.count, 80)
        XCTAssertNotEqual(province(seed: 7).organizations[0].id, province().organizations[0].id)
        XCTAssertEqual(a.first?.partyCardNumber, "DM010000001")
        XCTAssertEqual(a.last?.partyCardNumber, "DM010000100")
    }

    func testDemoProvinceShape() {
        let p = province()
        XCTAssertEqual(p.code, "DEMO-P01")
        XCTAssertEqual(p.communeIndices.count, 20)
        XCTAssertEqual(p.residentialBranchIndices.count, 150)
        XCTAssertEqual(p.workplaceIndices.count, 30)
        let byID = Dictionary(uniqueKeysWithValues: p.organizations.enumerated().map { ($1.id, $0) })
        // Every parent comes before its children and the path extends the parent's path.
        for (i, o) in p.organizations.enumerated().dropFirst() {
            let parent = try! XCTUnwrap(byID[o.parentID])
            XCTAssertLessThan(parent, i)
            XCTAssertEqual(o.path, p.organizations[parent].path + "." + "o" + o.id.uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
            XCTAssertTrue(o.code.hasPrefix(p.organizations[parent].code + "-"), o.code)
        }
        for w in p.workplaceIndices {
            let o = p.organizations[w]
            XCTAssertEqual(o.kind, "grassroots_committee")
            XCTAssertTrue(["agency", "public_service", "army", "police"].contains(o.sector) || o.sector.hasPrefix("enterprise_"), o.sector)
            let branches = p.organizations.filter { $0.parentID == o.id }
            XCTAssertTrue((2...6).contains(branches.count), "\(o.code): \(branches.count) branches")
            XCTAssertTrue(branches.allSatisfy { $0.kind == "branch" })
        }
        for c in p.communeIndices {
            XCTAssertEqual(p.organizations[c].kind, "commune")
            XCTAssertTrue(["commune", "ward"].contains(p.organizations[c].sector))
        }
        XCTAssertEqual(Set(p.organizations.map(\.code)).count, p.organizations.count, "codes are unique")
        XCTAssertEqual(p.organizations.first { $0.code == "DEMO-P01-X01-B01" }?.parentID, p.organizations[p.communeIndices[0]].id)
    }

    func testMembersAreRealistic() {
        let p = province()
        let members = Array(p.members())
        XCTAssertEqual(members.count, 5000)
        XCTAssertEqual(Set(members.map(\.partyCardNumber)).count, 5000)
        let workplaceBranches = Set(p.workplaceBranchIndices)
        let communes = Set(p.communeIndices)
        let low = PGDate(year: 1955, month: 1, day: 1)!, high = PGDate(year: 2000, month: 12, day: 31)!
        for m in members {
            XCTAssertTrue(workplaceBranches.contains(m.workplaceIndex))
            XCTAssertTrue(communes.contains(m.residenceCommuneIndex))
            XCTAssertTrue(m.birthDate >= low && m.birthDate <= high, "\(m.birthDate)")
            XCTAssertGreaterThanOrEqual(m.birthDate.days(to: m.admittedOn), 18 * 365)
            XCTAssertLessThanOrEqual(m.admittedOn, DemoProvince.referenceDate)
            if let full = m.fullMemberOn {
                XCTAssertEqual(full.year, m.admittedOn.year + 1)
                XCTAssertTrue((365...366).contains(m.admittedOn.days(to: full)))
                XCTAssertLessThanOrEqual(full, DemoProvince.referenceDate)
            } else {
                XCTAssertGreaterThan(m.admittedOn.adding(days: 365), DemoProvince.referenceDate.adding(days: -1))
            }
            XCTAssertEqual(m.fullName, m.fullName.precomposedStringWithCanonicalMapping, "names are NFC")
            XCTAssertEqual(m.fullName.split(separator: " ").count >= 3, true, m.fullName)
            XCTAssertEqual(m.exemption == "none", m.exemptionGround == nil)
            XCTAssertTrue(m.residenceAddress.contains("tổ dân phố") || m.residenceAddress.hasPrefix("Xóm "), m.residenceAddress)
        }
        func share(_ f: (DemoMember) -> Bool) -> Double { Double(members.filter(f).count) / Double(members.count) }
        XCTAssertEqual(share { $0.fullName.hasPrefix("Nguyễn ") }, 0.38, accuracy: 0.05)
        XCTAssertEqual(share { $0.exemption == "activities" }, 0.03, accuracy: 0.015)
        XCTAssertEqual(share { $0.exemption == "introduction" }, 0.01, accuracy: 0.008)
        XCTAssertGreaterThan(share { $0.exemption == "introduction" }, 0)
        XCTAssertEqual(share { $0.sex == "female" }, 0.42, accuracy: 0.1)
        // Only the armed forces are exempt from introduction.
        for m in members where m.exemption == "introduction" {
            XCTAssertTrue(["army", "police"].contains(p.organizations[m.workplaceIndex].sector))
        }
        // Many members of the demo workplace live in the demo commune.
        let workplace = p.organizations[p.workplaceIndices[0]].id
        let ofWorkplace = members.filter { p.organizations[$0.workplaceIndex].parentID == workplace }
        XCTAssertGreaterThan(ofWorkplace.count, 100)
        let inCommune = ofWorkplace.filter { $0.residenceCommuneIndex == p.communeIndices[0] }.count
        XCTAssertGreaterThan(Double(inCommune) / Double(ofWorkplace.count), 0.25)
    }

    func testNationalShapeIsCloseToTheCountry() {
        let perProvince = DemoShape(members: 5_500_000 / 34)
        XCTAssertEqual(Double(perProvince.communes * 34), 3_321, accuracy: 1_000)
        XCTAssertEqual(Double(perProvince.workplaces * 34), 40_000, accuracy: 10_000)
        XCTAssertEqual(DemoShape(members: 5000), DemoShape(members: 5000))
        XCTAssertEqual(DemoShape(members: 5000).communes, 20)
        XCTAssertEqual(DemoShape(members: 5000).workplaces, 30)
    }

    func testSplitMix64KnownValues() {
        // Reference outputs of SplitMix64 for seed 0 (from the published algorithm).
        var r = SplitMix64(seed: 0)
        XCTAssertEqual(r.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(r.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(r.next(), 0x06C4_5D18_8009_454F)
    }
}

final class DemoLoaderTests: XCTestCase {
    var t: TestApp!

    override func setUpWithError() throws { t = try TestApp() }
    override func tearDown() { t.stop() }

    func count(_ db: Connection, _ sql: String, _ params: any PostgresEncodable...) throws -> Int {
        try XCTUnwrap(db.queryRow(sql, parameters: params)).decode(Int.self, 0)
    }

    func testLoadCountsIdempotenceTokensAndHandle() throws {
        let db = try Connection(t.databaseURL, statementTimeoutMilliseconds: 0)
        let first = try DemoLoader.load(db)
        XCTAssertEqual(first.count, 1)
        XCTAssertTrue(first[0].loaded)
        let expected = DemoProvince(seed: DemoLoader.defaultSeed, number: 1, members: 5000, parentID: DemoLoader.rootID,
                                    parentPath: try XCTUnwrap(db.queryRow("SELECT path::text FROM organizations WHERE code = 'TW'")).decode(String.self, 0))
        XCTAssertEqual(first[0].provinceID, expected.province.id)

        let subtree = "SELECT count(*)::int8 FROM organizations WHERE path <@ (SELECT path FROM organizations WHERE code = 'DEMO-P01')"
        let orgs = try count(db, subtree)
        XCTAssertEqual(orgs, expected.organizations.count)
        XCTAssertEqual(try count(db, subtree + " AND kind = 'commune'"), 20)
        XCTAssertEqual(try count(db, subtree + " AND kind = 'grassroots_committee'"), 30)
        XCTAssertEqual(try count(db, """
            SELECT count(*)::int8 FROM organizations b JOIN organizations c ON c.id = b.parent_id
            WHERE b.kind = 'branch' AND c.kind = 'commune' AND b.code LIKE 'DEMO-P01-%'
            """), 150)
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM members WHERE party_card_number LIKE 'DM01%'"), 5000)
        // Paths are what the SQL definition gives, and members carry their workplace's path.
        XCTAssertEqual(try count(db, """
            SELECT count(*)::int8 FROM organizations o JOIN organizations p ON p.id = o.parent_id
            WHERE o.code LIKE 'DEMO-%' AND o.path <> p.path || org_label(o.id)
            """), 0)
        XCTAssertEqual(try count(db, """
            SELECT count(*)::int8 FROM members m JOIN organizations w ON w.id = m.workplace_org_id
            WHERE m.workplace_path <> w.path OR w.kind <> 'branch'
               OR m.residence_commune_id NOT IN (SELECT id FROM organizations WHERE kind = 'commune')
            """), 0)
        let exempt = try count(db, "SELECT count(*)::int8 FROM members WHERE exemption <> 'none'")
        XCTAssertTrue((100...300).contains(exempt), "\(exempt) exempt")
        // The rows in the database are the generator's (determinism end to end).
        let names = try db.query("SELECT full_name FROM members ORDER BY party_card_number LIMIT 100").map { try $0.decode(String.self, 0) }
        XCTAssertEqual(names, expected.members().prefix(100).map(\.fullName))

        // A second run adds nothing.
        let events = try count(db, "SELECT count(*)::int8 FROM events")
        let again = try DemoLoader.load(db)
        XCTAssertFalse(again[0].loaded)
        XCTAssertEqual(again[0].provinceID, first[0].provinceID)
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM organizations WHERE code LIKE 'DEMO-%'"), orgs)
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM members"), 5000)
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM events"), events)

        // Tokens and demo.json.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let handle = try DemoLoader.issueTokens(db, baseURL: "http://127.0.0.1:\(t.port)")
        let path = try handle.write(toDirectory: dir)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["base_url", "tokens", "orgs"])
        XCTAssertEqual(json["base_url"] as? String, "http://127.0.0.1:\(t.port)")
        let tokens = try XCTUnwrap(json["tokens"] as? [String: String])
        XCTAssertEqual(Set(tokens.keys), ["admin", "province_viewer", "workplace_officer", "commune_officer", "branch_officer",
                                          "other_commune_officer"])
        XCTAssertEqual(Set(tokens.values).count, 6)
        let ids = try XCTUnwrap(json["orgs"] as? [String: String])
        XCTAssertEqual(Set(ids.keys), ["province", "workplace", "commune", "branch", "other_commune"])
        XCTAssertEqual(ids["province"], first[0].provinceID.uuidString.lowercased())
        XCTAssertEqual(try DemoHandle.read(fromDirectory: dir), handle)
        // The handle's organizations are what DESIGN.md §3 promises.
        func kind(_ id: String?) throws -> String {
            try XCTUnwrap(db.queryRow("""
                SELECT o.kind || '/' || p.kind FROM organizations o JOIN organizations p ON p.id = o.parent_id WHERE o.id = $1::uuid
                """, try XCTUnwrap(id))).decode(String.self, 0)
        }
        XCTAssertEqual(try kind(ids["province"]), "province/central")
        XCTAssertEqual(try kind(ids["workplace"]), "grassroots_committee/province")
        XCTAssertEqual(try kind(ids["commune"]), "commune/province")
        XCTAssertEqual(try kind(ids["other_commune"]), "commune/province")
        XCTAssertNotEqual(ids["commune"], ids["other_commune"])
        XCTAssertEqual(try XCTUnwrap(db.queryRow("SELECT parent_id FROM organizations WHERE id = $1::uuid", ids["branch"]!)).decode(UUID.self, 0).uuidString.lowercased(),
                       ids["commune"])
        XCTAssertGreaterThan(try count(db, """
            SELECT count(*)::int8 FROM members m JOIN organizations w ON w.id = m.workplace_org_id
            WHERE w.parent_id = $1::uuid AND m.residence_commune_id = $2::uuid
            """, ids["workplace"]!, ids["commune"]!), 20)
        let roles = try db.query("""
            SELECT a.role, a.org_id FROM accounts a JOIN tokens t ON t.account_id = a.id WHERE t.revoked_at IS NULL ORDER BY a.created_at
            """).map { "\(try $0.decode(String.self, 0))@\(try $0.decode(UUID.self, 1).uuidString.lowercased())" }
        XCTAssertEqual(Set(roles), ["admin@\(ids["province"]!)", "viewer@\(ids["province"]!)", "officer@\(ids["workplace"]!)",
                                    "officer@\(ids["commune"]!)", "officer@\(ids["branch"]!)", "officer@\(ids["other_commune"]!)"])

        // The tokens work: each one is the role at the organization demo.json names.
        let expectedMe: [(String, String, String)] = [
            ("admin", "admin", "province"), ("province_viewer", "viewer", "province"), ("workplace_officer", "officer", "workplace"),
            ("commune_officer", "officer", "commune"), ("branch_officer", "officer", "branch"),
            ("other_commune_officer", "officer", "other_commune"),
        ]
        for (key, role, org) in expectedMe {
            let me = try t.get("/v1/me", headers: ["Authorization": "Bearer \(tokens[key]!)"])
            XCTAssertEqual(me.status, 200, "\(key): \(me.text)")
            XCTAssertEqual(try me.json()["role"] as? String, role, key)
            XCTAssertEqual((try me.json()["organization"] as? [String: Any])?["id"] as? String, ids[org], key)
        }
        let province = try t.get("/v1/organizations/\(ids["province"]!)", headers: ["Authorization": "Bearer \(tokens["admin"]!)"])
        XCTAssertEqual(province.status, 200, province.text)
        XCTAssertEqual(try province.json()["code"] as? String, "DEMO-P01")
        let viewer = try t.get("/v1/organizations/\(ids["commune"]!)", headers: ["Authorization": "Bearer \(tokens["province_viewer"]!)"])
        XCTAssertEqual(viewer.status, 200, viewer.text)
        let commune = try t.get("/v1/organizations/\(ids["commune"]!)", headers: ["Authorization": "Bearer \(tokens["commune_officer"]!)"])
        XCTAssertEqual(commune.status, 200, commune.text)
        let sibling = try t.get("/v1/organizations/\(ids["commune"]!)", headers: ["Authorization": "Bearer \(tokens["other_commune_officer"]!)"])
        XCTAssertEqual(sibling.status, 404, sibling.text)

        // Issuing again reuses the accounts, revokes the old tokens and gives new ones.
        let accounts = try count(db, "SELECT count(*)::int8 FROM accounts")
        let second = try DemoLoader.issueTokens(db, baseURL: "http://127.0.0.1:\(t.port)")
        // The loader revokes behind the server's back, as another process would: the server sees
        // it within its principal cache's TTL; not waiting for that here.
        t.app.principals.invalidateAll()
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM accounts"), accounts)
        XCTAssertEqual(second.orgs, handle.orgs)
        XCTAssertNotEqual(second.tokens.admin, handle.tokens.admin)
        XCTAssertEqual(try t.get("/v1/organizations/\(ids["province"]!)", headers: ["Authorization": "Bearer \(handle.tokens.admin)"]).status, 401)
        XCTAssertEqual(try t.get("/v1/organizations/\(ids["province"]!)", headers: ["Authorization": "Bearer \(second.tokens.admin)"]).status, 200)
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM tokens WHERE revoked_at IS NULL"), 6)
    }

    func testSeveralProvincesShareTheMembers() throws {
        let db = try Connection(t.databaseURL, statementTimeoutMilliseconds: 0)
        let results = try DemoLoader.load(db, seed: 99, provinces: 3, members: 3001)
        XCTAssertEqual(results.map(\.code), ["DEMO-P01", "DEMO-P02", "DEMO-P03"])
        XCTAssertEqual(results.map(\.members), [1001, 1000, 1000])
        XCTAssertEqual(try count(db, "SELECT count(*)::int8 FROM members"), 3001)
        XCTAssertEqual(try count(db, "SELECT count(DISTINCT residence_province_id)::int8 FROM members"), 3)
        // Members of a province live and work in it.
        XCTAssertEqual(try count(db, """
            SELECT count(*)::int8 FROM members m JOIN organizations p ON p.id = m.residence_province_id
            WHERE NOT m.workplace_path <@ p.path
            """), 0)
        XCTAssertThrowsError(try DemoLoader.issueTokens(db, baseURL: "x", province: 4))
    }
}
