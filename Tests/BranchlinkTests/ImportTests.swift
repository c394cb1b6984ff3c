import Branchlink
import Foundation
import Postgres
import XCTest

/// `POST /v1/imports/{organizations,members}` over HTTP against a real database, plus the import
/// core run directly as the CLI runs it. The tree (built with SQL):
///   TW → P1 (province) → C1 (commune) → C1B (residential branch), C1S (a school's committee)
///                     → W1 (workplace committee) → W1B (its branch), WX (closed)
///      → P2 (province) → C2 (commune), W2 (workplace committee)
final class ImportTests: XCTestCase {
    var t: TestApp!
    var db: Connection!
    var orgs: [String: String] = [:]
    var tokens: [String: String] = [:]

    override func setUpWithError() throws {
        t = try TestApp()
        db = try Connection(t.databaseURL)
        orgs["TW"] = "00000000-0000-4000-8000-000000000001"
        func org(_ code: String, _ parent: String, _ kind: String, _ sector: String, closed: Bool = false) throws {
            let id = UUID().uuidString.lowercased()
            try db.execute("""
                INSERT INTO organizations (id, parent_id, path, kind, sector, code, name, valid_from, valid_to)
                SELECT $1::uuid, $2::uuid, path || org_label($1::uuid), $3, $4, $5, $6, DATE '2020-01-01', $7
                FROM organizations WHERE id = $2::uuid
                """, id, orgs[parent]!, kind, sector, code, "Tổ chức \(code)", closed ? PGDate(year: 2025, month: 7, day: 1) : nil)
            orgs[code] = id
        }
        try org("P1", "TW", "province", "province")
        try org("C1", "P1", "commune", "ward")
        try org("C1B", "C1", "branch", "other")
        try org("C1S", "C1", "grassroots_committee", "public_service")
        try org("W1", "P1", "grassroots_committee", "agency")
        try org("W1B", "W1", "branch", "agency")
        try org("WX", "P1", "grassroots_committee", "agency", closed: true)
        try org("P2", "TW", "province", "province")
        try org("C2", "P2", "commune", "commune")
        try org("W2", "P2", "grassroots_committee", "enterprise_state")
        for (name, code, role) in [("root", "TW", Role.admin), ("p1admin", "P1", .admin), ("w1officer", "W1", .officer),
                                   ("p1viewer", "P1", .viewer), ("p1officer", "P1", .officer),
                                   ("c1officer", "C1", .officer)] {
            tokens[name] = try TokenIssuer.createAccountWithToken(db, orgCode: code, role: role, name: name).secret
        }
    }

    override func tearDown() { t.stop() }

    // MARK: - Helpers

    static let memberHeader = "party_card_number,full_name,sex,birth_date,admitted_on,full_member_on,workplace_code,"
        + "residence_province_code,residence_commune_code,residence_address,exemption,exemption_ground"

    /// A valid member line: card, name, workplace, and optionally other fields overridden.
    static func member(_ card: String, name: String = "Trần Văn An", sex: String = "male", birth: String = "1985-03-04",
                       admitted: String = "2010-05-19", full: String = "2011-05-19", workplace: String = "W1B",
                       province: String = "P1", commune: String = "C1", address: String = "Số 1 ngõ 2",
                       exemption: String = "none", ground: String = "") -> String {
        [card, name, sex, birth, admitted, full, workplace, province, commune, address, exemption, ground].joined(separator: ",")
    }

    func post(_ kind: String, _ csv: String, as who: String = "p1admin", query: String = "",
              contentType: String = "text/csv; charset=utf-8", extraHeaders: [String: String] = [:]) throws -> TestResponse {
        try post(kind, Array(csv.utf8), as: who, query: query, contentType: contentType, extraHeaders: extraHeaders)
    }

    func post(_ kind: String, _ body: [UInt8], as who: String = "p1admin", query: String = "",
              contentType: String = "text/csv; charset=utf-8", extraHeaders: [String: String] = [:]) throws -> TestResponse {
        var h = extraHeaders
        h["Authorization"] = "Bearer \(tokens[who]!)"
        h["Content-Type"] = contentType
        return try TestHTTP.request(port: t.port, method: "POST", path: "/v1/imports/\(kind)" + (query.isEmpty ? "" : "?\(query)"),
                                    headers: h, body: body)
    }

    func results(_ r: TestResponse) throws -> [[String: Any]] {
        try XCTUnwrap(r.json()["results"] as? [[String: Any]], r.text)
    }

    /// (column, code) pairs of each row's errors, by row number.
    func errorCodes(_ r: TestResponse) throws -> [Int: [String]] {
        var out: [Int: [String]] = [:]
        for item in try results(r) {
            let row = try XCTUnwrap(item["row"] as? Int)
            let errors = try XCTUnwrap(item["errors"] as? [[String: Any]])
            XCTAssertEqual(item["ok"] as? Bool, errors.isEmpty)
            out[row] = errors.map { "\(($0["column"] as? String) ?? "-"):\($0["code"] as! String)" }
        }
        return out
    }

    func count(_ sql: String) throws -> Int { try XCTUnwrap(db.queryRow(sql)).decode(Int.self, 0) }

    // MARK: - Whole-file errors

    func testHeaderAndBodyErrors() throws {
        let unknown = try post("members", "party_card_number,full_name,sex,birth_date,workplace_code,nickname\n")
        XCTAssertEqual(unknown.status, 400, unknown.text)
        XCTAssertEqual(try unknown.json()["code"] as? String, "unknown_column")
        let unknownErrors = try XCTUnwrap(unknown.json()["errors"] as? [[String: Any]])
        XCTAssertEqual(unknownErrors.map { $0["pointer"] as? String }, ["/columns/nickname"])

        let missing = try post("members", "party_card_number,full_name,sex\n")
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(try missing.json()["code"] as? String, "missing_column")
        let missingErrors = try XCTUnwrap(missing.json()["errors"] as? [[String: Any]])
        XCTAssertEqual(missingErrors.map { $0["pointer"] as? String }, ["/columns/birth_date", "/columns/workplace_code"])

        let orgMissing = try post("organizations", "code,name,kind,sector\n")
        XCTAssertEqual(try orgMissing.json()["code"] as? String, "missing_column")

        // Header names are trimmed and case-insensitive; order is free; optional columns may be absent.
        let reordered = try post("members", "Workplace_Code , BIRTH_DATE,sex,full_name,party_card_number\nW1B,1980-01-01,female,Lê Thị Hoa,HDR0001\n")
        XCTAssertEqual(reordered.status, 200, reordered.text)
        XCTAssertEqual(try reordered.json()["ok"] as? Int, 1)

        let duplicate = try post("members", "party_card_number,full_name,sex,birth_date,workplace_code,sex\n")
        XCTAssertEqual(try duplicate.json()["code"] as? String, "duplicate_column")

        XCTAssertEqual(try post("members", "").status, 400)
        XCTAssertEqual(try post("members", "").json()["code"] as? String, "missing_header")
        XCTAssertEqual(try post("members", Self.memberHeader + "\n\"AB12,x\n").json()["code"] as? String, "malformed_csv")
        XCTAssertEqual(try post("members", Array((Self.memberHeader + "\n").utf8) + [0xC3, 0x28, 0x0A]).json()["code"] as? String,
                       "invalid_encoding")
        XCTAssertEqual(try post("members", Self.memberHeader + "\n", contentType: "application/json").status, 415)
        XCTAssertEqual(try post("members", Self.memberHeader + "\n", contentType: "text/csv; charset=windows-1258").status, 415)
        let badFlag = try post("members", Self.memberHeader + "\n", query: "dry_run=yes")
        XCTAssertEqual(badFlag.status, 400)
        XCTAssertEqual(try badFlag.json()["code"] as? String, "invalid_parameter")

        // Nothing at all was written by any of these.
        XCTAssertEqual(try count("SELECT count(*) FROM members WHERE party_card_number <> 'HDR0001'"), 0)
    }

    func testAuthorization() throws {
        let orgCSV = "code,name,kind,sector,parent_code\nP1-C9,Xã Chín,commune,commune,P1\n"
        // Organizations: admins only.
        XCTAssertEqual(try post("organizations", orgCSV, as: "p1officer").status, 403)
        XCTAssertEqual(try post("organizations", orgCSV, as: "p1viewer").status, 403)
        // Members: officers and admins, never viewers.
        let memberCSV = Self.memberHeader + "\n" + Self.member("AUTH001") + "\n"
        XCTAssertEqual(try post("members", memberCSV, as: "p1viewer").status, 403)
        XCTAssertEqual(try post("members", memberCSV, as: "p1officer", query: "dry_run=true").status, 200)
        XCTAssertEqual(try TestHTTP.request(port: t.port, method: "POST", path: "/v1/imports/members",
                                            headers: ["Content-Type": "text/csv"], body: Array(memberCSV.utf8)).status, 401)
        XCTAssertEqual(try post("organizations", orgCSV, as: "p1admin").status, 200)
    }

    // MARK: - Per-row error codes

    func testEveryMemberRowErrorCode() throws {
        try db.execute("""
            INSERT INTO members (party_card_number, full_name, sex, birth_date, workplace_org_id, workplace_path)
            SELECT 'EXIST01', 'Phạm Văn Cũ', 'male', DATE '1970-01-01', id, path FROM organizations WHERE code = 'W2'
            """)
        let longName = String(repeating: "Ơ", count: 201)
        let lines = [
            Self.member("OK000001"),                                                       // 1 ok
            Self.member("AB"),                                                             // 2 format (card)
            Self.member("OK000003", name: ""),                                             // 3 required
            Self.member("OK000004", sex: "unknown"),                                       // 4 invalid_value
            Self.member("OK000005", name: longName),                                       // 5 too_long
            Self.member("OK000006", name: "\"Tab\u{1}bad\""),                              // 6 invalid_characters
            Self.member("OK000007", birth: "2999-01-01"),                                  // 7 out_of_range (future)
            Self.member("OK000008", birth: "1985-02-30"),                                  // 8 format (no such date)
            Self.member("OK000009", admitted: "1980-01-01"),                               // 9 out_of_range (before birth)
            "OK000010,Short Row,male",                                                     // 10 column_count
            Self.member("DUP00001"),                                                       // 11 duplicate_in_file
            Self.member("DUP00001"),                                                       // 12 duplicate_in_file
            Self.member("EXIST01"),                                                        // 13 already_exists (outside the scope too)
            Self.member("OK000014", workplace: "W2"),                                      // 14 unknown_reference (out of scope)
            Self.member("OK000015", workplace: "NOPE"),                                    // 15 unknown_reference (absent)
            Self.member("OK000016", workplace: "WX"),                                      // 16 organization_closed
            Self.member("OK000017", province: "P1", commune: "C2"),                        // 17 not_in_province
            Self.member("OK000018", province: "W1", commune: "C1"),                        // 18 unknown_reference (not a province)
            Self.member("OK000019", province: "", commune: "C1"),                          // 19 required (province for commune)
            Self.member("OK000020", exemption: "activities"),                              // 20 required (ground)
            Self.member("OK000021", exemption: "activities", ground: "\"Tuổi cao, sức yếu\""), // 21 ok
            Self.member("OK000022", province: "P2", commune: "C2", address: ""),           // 22 ok: residence anywhere
            Self.member("OK000023", workplace: "W1"),                                      // 23 ok: own subtree
            Self.member("bad card", sex: "x", birth: "04/03/1985", workplace: "W2"),       // 24 several at once
            Self.member("OK000025", workplace: "P1"),                                      // 25 not_a_workplace
            Self.member("OK000026", workplace: "C1B"),                                     // 26 residential_organization
            Self.member("OK000027", ground: "Không cần"),                                  // 27 not_allowed (ground without exemption)
            Self.member("OK000028", admitted: ""),                                         // 28 required (admitted_on for full_member_on)
        ]
        let r = try post("members", Self.memberHeader + "\n" + lines.joined(separator: "\n") + "\n", as: "p1admin")
        XCTAssertEqual(r.status, 200, r.text)
        let codes = try errorCodes(r)
        let expected: [Int: [String]] = [
            1: [], 2: ["party_card_number:format"], 3: ["full_name:required"], 4: ["sex:invalid_value"], 5: ["full_name:too_long"],
            6: ["full_name:invalid_characters"], 7: ["birth_date:out_of_range", "admitted_on:out_of_range"], 8: ["birth_date:format"],
            9: ["admitted_on:out_of_range"], 10: ["-:column_count"], 11: ["party_card_number:duplicate_in_file"],
            12: ["party_card_number:duplicate_in_file"], 13: ["party_card_number:already_exists"],
            14: ["workplace_code:unknown_reference"], 15: ["workplace_code:unknown_reference"],
            16: ["workplace_code:organization_closed"], 17: ["residence_commune_code:not_in_province"],
            18: ["residence_province_code:unknown_reference"], 19: ["residence_province_code:required"],
            20: ["exemption_ground:required"], 21: [], 22: [], 23: [],
            24: ["party_card_number:format", "sex:invalid_value", "birth_date:format", "workplace_code:unknown_reference"],
            25: ["workplace_code:not_a_workplace"], 26: ["workplace_code:residential_organization"],
            27: ["exemption_ground:not_allowed"], 28: ["admitted_on:required"],
        ]
        for row in 1...28 { XCTAssertEqual(codes[row], expected[row], "row \(row)") }
        let json = try r.json()
        XCTAssertEqual(json["rows"] as? Int, 28)
        XCTAssertEqual(json["ok"] as? Int, 4)
        XCTAssertEqual(json["failed"] as? Int, 24)
        XCTAssertEqual(json["written"] as? Int, 4)
        XCTAssertEqual(try count("SELECT count(*) FROM members WHERE party_card_number LIKE 'OK%'"), 4)
        XCTAssertEqual(json["dry_run"] as? Bool, false)
        XCTAssertEqual(json["atomic"] as? Bool, false)
        // Out of scope and absent read the same: existence is never revealed.
        let all = try results(r)
        XCTAssertEqual((all[13]["errors"] as? [[String: String]])?.first, (all[14]["errors"] as? [[String: String]])?.first)
        // Messages never quote the values.
        XCTAssertFalse(r.text.contains("bad card"))
        XCTAssertFalse(r.text.contains("EXIST01"))
    }

    func testOrganizationsResolveParentsInFileInAnyOrder() throws {
        let csv = """
            code,name,kind,sector,parent_code,valid_from
            P1-C5-B1,Chi bộ khu phố 1,branch,other,P1-C5,
            P1-C5,Phường Năm,commune,ward,P1,2025-07-01
            P1-W5,Đảng ủy Công ty Năm,grassroots_committee,enterprise_state,P1,
            P1-W5-PC,Đảng bộ bộ phận Xưởng,partial_committee,enterprise_state,P1-W5,
            P1-W5-PC-B,Chi bộ Ca 1,branch,enterprise_state,P1-W5-PC,
            P1-X,Xã sai chỗ,commune,commune,P1-W5,
            P1-X-B,Chi bộ con của dòng sai,branch,other,P1-X,
            P2-C7,Xã ngoài phạm vi,commune,commune,P2,
            P1-C1,Trùng mã,commune,commune,P1,
            W1,Đã có,grassroots_committee,agency,P1,
            P1-D,Trùng trong tệp,commune,commune,P1,
            P1-D,Trùng trong tệp,commune,commune,P1,
            P1-S,Ngành sai,commune,agency,P1,
            P1-K,Cấp sai,central,central,P1,
            P1-WX-B,Dưới tổ chức đã đóng,branch,agency,WX,
            P1-CY,Vòng A,commune,commune,P1-CZ,
            P1-CZ,Vòng B,commune,commune,P1-CY,

            """
        let dry = try post("organizations", csv, query: "dry_run=true")
        XCTAssertEqual(dry.status, 200, dry.text)
        let real = try post("organizations", csv)
        XCTAssertEqual(real.status, 200, real.text)
        XCTAssertEqual(try results(dry) as NSArray, try results(real) as NSArray, "dry run and real run must agree row by row")
        let codes = try errorCodes(real)
        let expected: [Int: [String]] = [
            1: [], 2: [], 3: [], 4: [], 5: [],
            6: ["parent_code:invalid_parent"], 7: ["parent_code:parent_invalid"], 8: ["parent_code:unknown_reference"],
            9: [], 10: ["code:already_exists"], 11: ["code:duplicate_in_file"], 12: ["code:duplicate_in_file"],
            13: ["sector:invalid_value"], 14: ["kind:invalid_value"], 15: ["parent_code:organization_closed"],
            16: ["parent_code:parent_invalid"], 17: ["parent_code:parent_invalid"],
        ]
        for row in 1...17 { XCTAssertEqual(codes[row], expected[row], "row \(row)") }
        XCTAssertEqual(try real.json()["written"] as? Int, 6)

        // Paths: every new node sits under its parent, whether the parent came before or after it.
        func path(_ code: String) throws -> String {
            try XCTUnwrap(db.queryRow("SELECT path::text FROM organizations WHERE code = $1", code)).decode(String.self, 0)
        }
        func parent(_ code: String) throws -> String? {
            try XCTUnwrap(db.queryRow("SELECT p.code FROM organizations o JOIN organizations p ON p.id = o.parent_id WHERE o.code = $1", code))
                .decode(String?.self, 0)
        }
        for (child, par) in [("P1-C5-B1", "P1-C5"), ("P1-C5", "P1"), ("P1-W5", "P1"), ("P1-W5-PC", "P1-W5"), ("P1-W5-PC-B", "P1-W5-PC"),
                             ("P1-C1", "P1")] {
            XCTAssertEqual(try parent(child), par)
            XCTAssertTrue(try path(child).hasPrefix(try path(par) + "."), "\(child) under \(par)")
        }
        XCTAssertEqual(try XCTUnwrap(db.queryRow("SELECT valid_from::text FROM organizations WHERE code = 'P1-C5'")).decode(String.self, 0),
                       "2025-07-01")
        // Failed rows left nothing behind.
        XCTAssertEqual(try count("SELECT count(*) FROM organizations WHERE code IN ('P1-X', 'P1-X-B', 'P2-C7', 'P1-D', 'P1-CY')"), 0)
    }

    // MARK: - Dry run, atomic, real run

    /// A file with good and bad rows of every kind.
    func mixedMembers() -> String {
        var lines = [Self.memberHeader]
        for i in 1...40 {
            switch i % 10 {
            case 3: lines.append(Self.member(String(format: "MIX%05d", i), birth: "1985-13-01"))
            case 7: lines.append(Self.member(String(format: "MIX%05d", i), workplace: "W2"))
            case 9: lines.append(Self.member("MIX00001"))
            default: lines.append(Self.member(String(format: "MIX%05d", i)))
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    func testDryRunWritesNothingAndMatchesTheRealRun() throws {
        let csv = mixedMembers()
        let events = try count("SELECT count(*) FROM events")
        let dry = try post("members", csv, query: "dry_run=true&atomic=false")
        XCTAssertEqual(dry.status, 200, dry.text)
        XCTAssertEqual(try dry.json()["dry_run"] as? Bool, true)
        XCTAssertEqual(try dry.json()["written"] as? Int, 0)
        XCTAssertEqual(try count("SELECT count(*) FROM members"), 0)
        XCTAssertEqual(try count("SELECT count(*) FROM events"), events)

        let real = try post("members", csv)
        XCTAssertEqual(real.status, 200, real.text)
        XCTAssertEqual(try results(dry) as NSArray, try results(real) as NSArray, "dry run and real run must agree row by row")
        for key in ["rows", "ok", "failed"] { XCTAssertEqual(try dry.json()[key] as? Int, try real.json()[key] as? Int, key) }

        // Exactly the ok rows were written, with their workplace path and residence ids.
        let okCards = Set(try results(real).filter { $0["ok"] as? Bool == true }.map { String(format: "MIX%05d", $0["row"] as! Int) })
        let stored = Set(try db.query("SELECT party_card_number FROM members").map { try $0.decode(String.self, 0) })
        XCTAssertEqual(stored, okCards)
        XCTAssertEqual(try real.json()["written"] as? Int, okCards.count)
        XCTAssertEqual(okCards.count, 40 - 4 - 4 - 4 - 1)  // bad dates, out of scope, duplicates of row 1 (and row 1 itself)
        XCTAssertEqual(try count("""
            SELECT count(*) FROM members m JOIN organizations w ON w.id = m.workplace_org_id
            WHERE w.code = 'W1B' AND m.workplace_path = w.path
              AND m.residence_province_id = (SELECT id FROM organizations WHERE code = 'P1')
              AND m.residence_commune_id = (SELECT id FROM organizations WHERE code = 'C1')
            """), okCards.count)

        // One event with counts and no personal data.
        let ev = try XCTUnwrap(db.queryRow("""
            SELECT type, entity_type, data::text, actor_account_id IS NOT NULL, org_ids = ARRAY[$1::uuid]
            FROM events WHERE sequence > $2
            """, orgs["P1"]!, events))
        XCTAssertEqual(try count("SELECT count(*) FROM events") - events, 1)
        XCTAssertEqual(try ev.decode(String.self, 0), "import.completed")
        XCTAssertEqual(try ev.decode(String.self, 1), "import")
        let data = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try ev.decode(String.self, 2).utf8)) as? [String: Any])
        XCTAssertEqual(data["kind"] as? String, "members")
        XCTAssertEqual(data["rows"] as? Int, 40)
        XCTAssertEqual(data["written"] as? Int, okCards.count)
        XCTAssertEqual(data["via"] as? String, "api")
        XCTAssertEqual(Set(data.keys), ["kind", "rows", "ok", "failed", "written", "atomic", "via"])
        XCTAssertTrue(try ev.decode(Bool.self, 3))
        XCTAssertTrue(try ev.decode(Bool.self, 4))

        // Running the same file again: every previously written row now already exists.
        let again = try post("members", csv, query: "dry_run=true")
        XCTAssertEqual(try again.json()["ok"] as? Int, 0)
        XCTAssertEqual(try errorCodes(again)[2], ["party_card_number:already_exists"])
    }

    func testAtomicWritesNothingWhenARowFails() throws {
        let csv = mixedMembers()
        let events = try count("SELECT count(*) FROM events")
        let dry = try post("members", csv, query: "dry_run=true&atomic=true")
        let real = try post("members", csv, query: "atomic=true", extraHeaders: ["Accept-Language": "en"])
        for r in [dry, real] {
            XCTAssertEqual(r.status, 422, r.text)
            XCTAssertEqual(r.headers["content-type"], "application/problem+json")
            let json = try r.json()
            XCTAssertEqual(json["code"] as? String, "import_failed")
            XCTAssertEqual(json["status"] as? Int, 422)
            XCTAssertEqual(json["atomic"] as? Bool, true)
            XCTAssertEqual(json["written"] as? Int, 0)
            XCTAssertEqual(json["rows"] as? Int, 40)
            XCTAssertEqual(json["failed"] as? Int, 13)
        }
        XCTAssertEqual(try results(dry) as NSArray, try results(real) as NSArray)
        XCTAssertEqual(try count("SELECT count(*) FROM members"), 0)
        XCTAssertEqual(try count("SELECT count(*) FROM events"), events)

        // All rows valid: atomic writes them all.
        let good = Self.memberHeader + "\n" + (1...5).map { Self.member("ATOM000\($0)") }.joined(separator: "\n")
        let ok = try post("members", good, query: "atomic=true")
        XCTAssertEqual(ok.status, 200, ok.text)
        XCTAssertEqual(try ok.json()["written"] as? Int, 5)
        XCTAssertEqual(try count("SELECT count(*) FROM members"), 5)

        // Organizations too.
        let orgs = "code,name,kind,sector,parent_code\nP1-A1,Xã Một,commune,commune,P1\nP1-A2,Xã Hai,commune,commune,P9\n"
        let rejected = try post("organizations", orgs, query: "atomic=true")
        XCTAssertEqual(rejected.status, 422)
        XCTAssertEqual(try count("SELECT count(*) FROM organizations WHERE code LIKE 'P1-A%'"), 0)
    }

    // MARK: - CSV details

    func testBOMQuotedFieldsAndVietnameseText() throws {
        // NFD input ("Nguyễn" decomposed) is stored composed (NFC).
        let nfdName = "Nguye\u{0302}\u{0303}n Thi\u{0323} Ho\u{0300}a"
        var csv = "\u{FEFF}" + Self.memberHeader + "\r\n"
        csv += "VN000001,\"Đặng, Thị \"\"Út\"\"\",female,1990-09-02,,,W1B,P1,C1,\"Số 12, ngách 34/5\r\nTổ dân phố Đông\",,\r\n"
        csv += "VN000002,\(nfdName),female,1991-01-01,,,W1,,,,\"activities\",\"Đang điều trị bệnh dài ngày, xác nhận của bệnh viện\"\r\n"
        csv += "\r\n"  // a blank line is skipped, not counted
        csv += "  VN000003  ,  Lò Văn Pó ,MALE,1975-12-31,1999-03-26,2000-03-26,W1B,P1,C1,,none,"  // no final line break
        let r = try post("members", csv)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try r.json()["rows"] as? Int, 3)
        XCTAssertEqual(try r.json()["ok"] as? Int, 3, r.text)
        func member(_ card: String) throws -> Row {
            try XCTUnwrap(db.queryRow("""
                SELECT full_name, residence_address, exemption, exemption_ground, sex, admitted_on::text
                FROM members WHERE party_card_number = $1
                """, card))
        }
        let m1 = try member("VN000001")
        XCTAssertEqual(try m1.decode(String.self, 0), "Đặng, Thị \"Út\"")
        XCTAssertEqual(try m1.decode(String?.self, 1), "Số 12, ngách 34/5\nTổ dân phố Đông")
        XCTAssertEqual(try m1.decode(String.self, 2), "none")
        let m2 = try member("VN000002")
        XCTAssertEqual(try m2.decode(String.self, 0), "Nguyễn Thị Hòa")
        XCTAssertEqual(Array(try m2.decode(String.self, 0).unicodeScalars), Array("Nguy\u{1EC5}n Th\u{1ECB} H\u{00F2}a".unicodeScalars))
        XCTAssertEqual(try m2.decode(String.self, 2), "activities")
        XCTAssertEqual(try m2.decode(String?.self, 3), "Đang điều trị bệnh dài ngày, xác nhận của bệnh viện")
        let m3 = try member("VN000003")
        XCTAssertEqual(try m3.decode(String.self, 0), "Lò Văn Pó")
        XCTAssertEqual(try m3.decode(String.self, 4), "male")
        XCTAssertEqual(try m3.decode(String?.self, 5), "1999-03-26")
    }

    // MARK: - Scope

    func testReferencesOutsideTheCallersSubtreeAreUnknown() throws {
        let csv = Self.memberHeader + "\n" + [
            Self.member("SCOPE001", workplace: "W1"),    // own organization
            Self.member("SCOPE002", workplace: "W1B"),   // descendant
            Self.member("SCOPE003", workplace: "P1"),    // ancestor
            Self.member("SCOPE004", workplace: "C1"),    // sibling
            Self.member("SCOPE005", workplace: "W2"),    // unrelated
            Self.member("SCOPE006", workplace: "ZZZ"),   // absent
        ].joined(separator: "\n")
        let r = try post("members", csv, as: "w1officer")
        XCTAssertEqual(r.status, 200, r.text)
        let codes = try errorCodes(r)
        XCTAssertEqual(codes[1], [])
        XCTAssertEqual(codes[2], [])
        for row in 3...6 { XCTAssertEqual(codes[row], ["workplace_code:unknown_reference"], "row \(row)") }
        let errors = try results(r).dropFirst(2).map { ($0["errors"] as! [[String: String]]).first! }
        XCTAssertEqual(Set(errors), [errors[0]], "out-of-scope and absent codes must be indistinguishable")

        // An admin of P1 cannot hang organizations under P2.
        let o = try post("organizations", "code,name,kind,sector,parent_code\nP2-W9,Ngoài,grassroots_committee,agency,P2\n")
        XCTAssertEqual(try errorCodes(o)[1], ["parent_code:unknown_reference"])
        // The root admin can.
        let root = try post("organizations", "code,name,kind,sector,parent_code\nP2-W9,Trong,grassroots_committee,agency,P2\n", as: "root")
        XCTAssertEqual(try errorCodes(root)[1], [])
    }

    func testResidenceSideCannotImportMembersExemptFromIntroduction() throws {
        // A commune account may register the members of a workplace under it, but never one it
        // would then be unable to see.
        let csv = Self.memberHeader + "\n"
            + Self.member("RS000001", workplace: "C1S") + "\n"
            + Self.member("RS000002", workplace: "C1S", exemption: "introduction", ground: "HD 33 mục 1.2") + "\n"
        let commune = try post("members", csv, as: "c1officer")
        XCTAssertEqual(commune.status, 200, commune.text)
        XCTAssertEqual(try errorCodes(commune)[1], [])
        XCTAssertEqual(try errorCodes(commune)[2], ["exemption:not_allowed"])
        let province = try post("members", csv.replacingOccurrences(of: "RS0", with: "RT0"), as: "p1officer")
        XCTAssertEqual(try errorCodes(province)[2], [])
    }

    // MARK: - The core as the CLI runs it

    func testDirectRunAsRootAdministrator() throws {
        let actor = try ImportActor.rootAdministrator(db)
        XCTAssertEqual(actor.orgID.uuidString.lowercased(), orgs["TW"])
        let csv = Self.memberHeader + "\n" + Self.member("CLI00001", workplace: "W2", province: "P2", commune: "C2") + "\n"
            + Self.member("CLI00002", birth: "") + "\n"
        let dry = try Importer.run(db, kind: .members, csv: Array(csv.utf8), actor: actor, options: ImportOptions(dryRun: true))
        XCTAssertEqual(dry.failures, [2: [ImportRowError(column: "birth_date", code: "required", message: "is required")]])
        XCTAssertEqual(try count("SELECT count(*) FROM members"), 0)
        let real = try Importer.run(db, kind: .members, csv: Array(csv.utf8), actor: actor, options: ImportOptions())
        XCTAssertEqual(real.failures, dry.failures)
        XCTAssertEqual(real.written, 1)
        let ev = try XCTUnwrap(db.queryRow("SELECT actor_account_id IS NULL, data->>'via' FROM events WHERE type = 'import.completed'"))
        XCTAssertTrue(try ev.decode(Bool.self, 0))
        XCTAssertEqual(try ev.decode(String.self, 1), "cli")
        XCTAssertThrowsError(try Importer.run(db, kind: .organizations, csv: Array("code,name\n".utf8), actor: actor, options: ImportOptions())) {
            XCTAssertEqual(($0 as? APIError)?.code, "missing_column")
        }
    }

    // MARK: - Volume

    func testTenThousandRows() throws {
        var csv = Self.memberHeader + "\n"
        csv.reserveCapacity(1_300_000)
        for i in 1...10_000 {
            let card = String(format: "TK%07d", i)
            if i % 100 == 0 {
                csv += Self.member(card, birth: "1985-02-30") + "\n"
            } else {
                csv += Self.member(card, name: "Nguyễn Văn Thành \(i)", workplace: i % 2 == 0 ? "W1" : "W1B") + "\n"
            }
        }
        let started = Date()
        let r = try post("members", csv)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(r.status, 200, String(r.text.prefix(500)))
        let json = try r.json()
        XCTAssertEqual(json["rows"] as? Int, 10_000)
        XCTAssertEqual(json["ok"] as? Int, 9_900)
        XCTAssertEqual(json["failed"] as? Int, 100)
        XCTAssertEqual(json["written"] as? Int, 9_900)
        XCTAssertEqual(try results(r).count, 10_000)
        XCTAssertEqual(try count("SELECT count(*) FROM members"), 9_900)
        print("import of 10,000 member rows (100 bad) over HTTP: \(String(format: "%.2f", seconds)) s")
    }
}
