import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// The member register over HTTP, against a real database:
///
///     TW → P (province) → C1 (commune) → B1 (residential branch)
///                                      → WC (enterprise committee under the commune, a workplace)
///                                      → WARD (ward-sector grassroots committee: residence side)
///                       → C2 (commune, closed)
///                       → W1 (agency committee) → W1a (its branch)
///                       → W2 (sibling committee)
///        → P2 (province) → C3 (commune) ; W3 (committee)
final class MembersTests: XCTestCase {
    var t: TestApp!
    var root = ""
    var org: [String: String] = [:]
    var token: [String: String] = [:]

    static let rootID = "00000000-0000-4000-8000-000000000001"

    override func setUpWithError() throws {
        t = try TestApp()
        let db = try Connection(t.databaseURL)
        root = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .admin, name: "root admin").secret
        func make(_ code: String, _ parent: String, _ kind: String, _ sector: String) throws {
            let r = try call(root, "POST", "/v1/organizations",
                             ["parent_id": parent == "TW" ? Self.rootID : org[parent]!, "kind": kind, "sector": sector, "code": code, "name": "Tổ chức \(code)"])
            XCTAssertEqual(r.status, 201, r.text)
            org[code] = try XCTUnwrap(r.json()["id"] as? String)
        }
        try make("P", "TW", "province", "province")
        try make("C1", "P", "commune", "commune")
        try make("B1", "C1", "branch", "other")
        try make("WC", "C1", "grassroots_committee", "enterprise_private")
        try make("WARD", "C1", "grassroots_committee", "ward")
        try make("C2", "P", "commune", "commune")
        try make("W1", "P", "grassroots_committee", "agency")
        try make("W1a", "W1", "branch", "agency")
        try make("W2", "P", "grassroots_committee", "agency")
        try make("WX", "P", "grassroots_committee", "agency")
        try make("P2", "TW", "province", "province")
        try make("C3", "P2", "commune", "ward")
        try make("W3", "P2", "grassroots_committee", "police")
        let today = MemberRules.today().description
        for closed in ["C2", "WX"] {
            XCTAssertEqual(try call(root, "PATCH", "/v1/organizations/\(org[closed]!)", ["valid_to": today]).status, 200)
        }
        for (key, code, role) in [("w1_officer", "W1", Role.officer), ("w1_viewer", "W1", .viewer), ("w2_admin", "W2", .admin),
                                  ("p_admin", "P", .admin), ("p_viewer", "P", .viewer), ("c1_officer", "C1", .officer),
                                  ("b1_officer", "B1", .officer)] {
            token[key] = try TokenIssuer.createAccountWithToken(db, orgCode: code, role: role, name: key).secret
        }
    }

    override func tearDown() { t.stop() }

    // MARK: - Helpers

    func call(_ bearer: String, _ method: String, _ path: String, _ body: Any? = nil, headers: [String: String] = [:]) throws -> TestResponse {
        var h = headers
        h["Authorization"] = "Bearer \(bearer)"
        var bytes: [UInt8] = []
        if let body {
            h["Content-Type"] = "application/json"
            bytes = Array(try JSONSerialization.data(withJSONObject: body, options: [.fragmentsAllowed]))
        }
        return try TestHTTP.request(port: t.port, method: method, path: path, headers: h, body: bytes)
    }

    var cardSerial = 0
    func nextCard() -> String { cardSerial += 1; return "9\(String(format: "%07d", cardSerial))" }

    func body(_ name: String = "Nguyễn Văn An", workplace: String = "W1a", extra: [String: Any] = [:]) -> [String: Any] {
        var b: [String: Any] = [
            "party_card_number": nextCard(), "full_name": name, "sex": "male", "birth_date": "1980-05-01",
            "admitted_on": "2005-03-02", "full_member_on": "2006-03-02", "workplace_org_id": org[workplace]!,
            "residence": ["province_id": org["P"]!, "commune_id": org["C1"]!, "address_line": "Thôn Đông, số 12"],
        ]
        for (k, v) in extra { b[k] = v }
        return b
    }

    @discardableResult
    func create(_ b: [String: Any], as bearer: String? = nil) throws -> [String: Any] {
        let r = try call(bearer ?? token["w1_officer"]!, "POST", "/v1/members", b)
        XCTAssertEqual(r.status, 201, r.text)
        return try r.json()
    }

    func items(_ r: TestResponse) throws -> [[String: Any]] {
        XCTAssertEqual(r.status, 200, r.text)
        return try XCTUnwrap(r.json()["items"] as? [[String: Any]])
    }

    func names(_ bearer: String, _ path: String) throws -> [String] {
        try items(try call(bearer, "GET", path)).compactMap { $0["full_name"] as? String }
    }

    /// (pointer, code) pairs of a 422.
    func fieldErrors(_ r: TestResponse) throws -> [String] {
        let errors = try XCTUnwrap(r.json()["errors"] as? [[String: Any]], r.text)
        return errors.map { "\($0["pointer"] as? String ?? "?") \($0["code"] as? String ?? "?")" }.sorted()
    }

    func q(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }

    // MARK: - Happy paths

    func testCreateGetListPatch() throws {
        let officer = token["w1_officer"]!
        // The client sends decomposed (NFD) Vietnamese with stray spaces: stored in NFC.
        let card = nextCard()
        let created = try call(officer, "POST", "/v1/members", body("Nguye\u{0302}\u{0303}n   Thi\u{0323} Ha\u{0300} ", extra: ["party_card_number": card]))
        XCTAssertEqual(created.status, 201, created.text)
        let m = try created.json()
        let id = try XCTUnwrap(m["id"] as? String)
        XCTAssertEqual(created.headers["location"], "/v1/members/\(id)")
        XCTAssertEqual(created.headers["etag"], "\"v1\"")
        XCTAssertEqual(m["full_name"] as? String, "Nguyễn Thị Hà")
        XCTAssertEqual((m["full_name"] as? String).map { Array($0.unicodeScalars) }, Array("Nguy\u{1EC5}n Th\u{1ECB} H\u{00E0}".unicodeScalars))
        XCTAssertEqual(m["party_card_number"] as? String, card)
        XCTAssertEqual(m["sex"] as? String, "male")
        XCTAssertEqual(m["birth_date"] as? String, "1980-05-01")
        XCTAssertEqual(m["admitted_on"] as? String, "2005-03-02")
        XCTAssertEqual(m["full_member_on"] as? String, "2006-03-02")
        XCTAssertEqual(m["workplace_org_id"] as? String, org["W1a"])
        let residence = try XCTUnwrap(m["residence"] as? [String: Any])
        XCTAssertEqual(residence["province_id"] as? String, org["P"])
        XCTAssertEqual(residence["commune_id"] as? String, org["C1"])
        XCTAssertEqual(residence["address_line"] as? String, "Thôn Đông, số 12")
        XCTAssertEqual(m["exemption"] as? String, "none")
        XCTAssertTrue(m["exemption_ground"] is NSNull)
        XCTAssertEqual(m["version"] as? Int, 1)
        XCTAssertNotNil(m["created_at"] as? String)
        XCTAssertNotNil(m["updated_at"] as? String)
        XCTAssertEqual(Set(m.keys), ["id", "party_card_number", "full_name", "sex", "birth_date", "admitted_on", "full_member_on",
                                     "workplace_org_id", "residence", "exemption", "exemption_ground", "created_at", "updated_at", "version"])

        // Minimal member: optional fields absent → null.
        let minimal = try create(["party_card_number": nextCard(), "full_name": "Lê Văn Tám", "sex": "male", "birth_date": "1990-01-01",
                                  "workplace_org_id": org["W1"]!])
        XCTAssertTrue(minimal["residence"] is NSNull)
        XCTAssertTrue(minimal["admitted_on"] is NSNull)

        // GET, ETag, If-None-Match.
        let got = try call(officer, "GET", "/v1/members/\(id)")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(try got.json()["full_name"] as? String, "Nguyễn Thị Hà")
        let etag = try XCTUnwrap(got.headers["etag"])
        let notModified = try call(officer, "GET", "/v1/members/\(id)", headers: ["If-None-Match": etag])
        XCTAssertEqual(notModified.status, 304)
        XCTAssertEqual(notModified.headers["etag"], etag)
        XCTAssertEqual(try call(officer, "GET", "/v1/members/\(id)", headers: ["If-None-Match": "\"v7\""]).status, 200)

        // List (scoped to W1's subtree), filters.
        XCTAssertEqual(Set(try names(officer, "/v1/members")), ["Nguyễn Thị Hà", "Lê Văn Tám"])
        XCTAssertEqual(try names(officer, "/v1/members?org_id=\(org["W1a"]!)"), ["Nguyễn Thị Hà"])
        XCTAssertEqual(try names(officer, "/v1/members?org_id=\(UUID().lower)"), [])
        XCTAssertEqual(try names(officer, "/v1/members?exemption=activities"), [])
        XCTAssertEqual(try call(officer, "GET", "/v1/members?exemption=maybe").status, 400)
        XCTAssertEqual(try call(officer, "GET", "/v1/members?org_id=nope").status, 400)
        XCTAssertEqual(try call(officer, "GET", "/v1/members?link_status=maybe").status, 400)
        XCTAssertEqual(try names(officer, "/v1/members?link_status=active"), [])

        // PATCH with If-Match: changes, version, ETag; then the old ETag is stale.
        let patched = try call(officer, "PATCH", "/v1/members/\(id)",
                               ["full_name": "Nguyễn Thị Hà My", "exemption": "activities", "exemption_ground": "HD 33 §1.1: học tập xa nhà",
                                "residence": ["address_line": "Thôn Tây"], "workplace_org_id": org["W1"]!],
                               headers: ["If-Match": etag])
        XCTAssertEqual(patched.status, 200, patched.text)
        XCTAssertEqual(patched.headers["etag"], "\"v2\"")
        let p = try patched.json()
        XCTAssertEqual(p["version"] as? Int, 2)
        XCTAssertEqual(p["full_name"] as? String, "Nguyễn Thị Hà My")
        XCTAssertEqual(p["exemption"] as? String, "activities")
        XCTAssertEqual(p["workplace_org_id"] as? String, org["W1"])
        let r2 = try XCTUnwrap(p["residence"] as? [String: Any])
        XCTAssertEqual(r2["address_line"] as? String, "Thôn Tây")
        XCTAssertEqual(r2["commune_id"] as? String, org["C1"], "merge patch keeps the other residence fields")
        let stale = try call(officer, "PATCH", "/v1/members/\(id)", ["sex": "female"], headers: ["If-Match": etag])
        XCTAssertEqual(stale.status, 412)
        XCTAssertEqual(try stale.json()["code"] as? String, "precondition_failed")
        XCTAssertEqual(try call(officer, "GET", "/v1/members/\(id)").headers["etag"], "\"v2\"", "a refused write changes nothing")

        // A PATCH that changes nothing writes nothing.
        let same = try call(officer, "PATCH", "/v1/members/\(id)", ["sex": "male"])
        XCTAssertEqual(try same.json()["version"] as? Int, 2)

        // Exemption back to none drops the ground; residence null clears it.
        let cleared = try call(officer, "PATCH", "/v1/members/\(id)", ["exemption": "none", "residence": NSNull()])
        XCTAssertEqual(cleared.status, 200, cleared.text)
        XCTAssertTrue(try cleared.json()["exemption_ground"] is NSNull)
        XCTAssertTrue(try cleared.json()["residence"] is NSNull)

        // workplace_path follows workplace_org_id; events name fields, never values.
        let db = try Connection(t.databaseURL)
        let row = try XCTUnwrap(try db.queryRow("""
            SELECT m.workplace_path = o.path FROM members m JOIN organizations o ON o.id = m.workplace_org_id WHERE m.id = $1
            """, UUID(uuidString: id)!))
        XCTAssertTrue(try row.decode(Bool.self, 0))
        let events = try db.query("SELECT type, data::text, org_ids::text FROM events WHERE entity_id = $1 ORDER BY sequence", UUID(uuidString: id)!)
        let log = try events.map { (try $0.decode(String.self, 0), try $0.decode(String.self, 1), try $0.decode(String.self, 2)) }
        XCTAssertEqual(log.map(\.0), ["member.created", "member.updated", "member.updated"])
        XCTAssertEqual(log[1].1, #"{"fields": ["full_name", "workplace_org_id", "residence.address_line", "exemption", "exemption_ground"]}"#)
        XCTAssertEqual(log[2].1, #"{"fields": ["residence.province_id", "residence.commune_id", "residence.address_line", "exemption", "exemption_ground"]}"#)
        XCTAssertTrue(log[1].2.contains(org["W1"]!) && log[1].2.contains(org["W1a"]!), "both workplaces are involved")
        for (_, data, _) in log {
            for secret in ["Nguy", "Thôn", "HD 33", card, "1980"] { XCTAssertFalse(data.contains(secret), data) }
        }
    }

    // MARK: - Validation

    func testEveryValidationErrorHasItsPointer() throws {
        let admin = token["p_admin"]!  // the whole province is in scope: rule errors, not 404s
        let tomorrow = MemberRules.today().adding(days: 1).description
        let r = { (k: String) in self.org[k]! }
        let cases: [(String, [String: Any], [String])] = [
            ("missing card", ["party_card_number": NSNull()], ["/party_card_number required"]),
            ("short card", ["party_card_number": "12"], ["/party_card_number format"]),
            ("card with space", ["party_card_number": "12 345"], ["/party_card_number format"]),
            ("long card", ["party_card_number": String(repeating: "1", count: 21)], ["/party_card_number too_long"]),
            ("empty name", ["full_name": "  "], ["/full_name required"]),
            ("long name", ["full_name": String(repeating: "Ă", count: 201)], ["/full_name too_long"]),
            ("name not a string", ["full_name": 12], ["/full_name type"]),
            ("name with control", ["full_name": "An\u{0007}"], ["/full_name invalid_characters"]),
            ("sex", ["sex": "other"], ["/sex invalid_value"]),
            ("birth format", ["birth_date": "1980-13-01"], ["/birth_date format"]),
            ("birth too early", ["birth_date": "1899-12-31"], ["/birth_date out_of_range"]),
            ("birth in future", ["birth_date": tomorrow, "admitted_on": NSNull(), "full_member_on": NSNull()], ["/birth_date out_of_range"]),
            ("admitted before birth", ["admitted_on": "1979-01-01"], ["/admitted_on out_of_range"]),
            ("admitted in future", ["admitted_on": tomorrow, "full_member_on": NSNull()], ["/admitted_on out_of_range"]),
            ("full before admitted", ["full_member_on": "2005-01-01"], ["/full_member_on out_of_range"]),
            ("full without admitted", ["admitted_on": NSNull()], ["/admitted_on required"]),
            ("full in future", ["full_member_on": tomorrow], ["/full_member_on out_of_range"]),
            ("workplace format", ["workplace_org_id": "W1"], ["/workplace_org_id format"]),
            ("workplace is a province", ["workplace_org_id": r("P")], ["/workplace_org_id not_a_workplace"]),
            ("workplace is a commune", ["workplace_org_id": r("C1")], ["/workplace_org_id not_a_workplace"]),
            ("workplace is a residential branch", ["workplace_org_id": r("B1")], ["/workplace_org_id residential_organization"]),
            ("workplace of the ward sector", ["workplace_org_id": r("WARD")], ["/workplace_org_id residential_organization"]),
            ("workplace closed", ["workplace_org_id": r("WX")], ["/workplace_org_id organization_closed"]),
            ("residence empty", ["residence": [String: Any]()], ["/residence/commune_id required", "/residence/province_id required"]),
            ("residence not an object", ["residence": "Hà Nội"], ["/residence type"]),
            ("residence unknown field", ["residence": ["province_id": r("P"), "commune_id": r("C1"), "ward": "x"]], ["/residence/ward unknown_field"]),
            ("residence province format", ["residence": ["province_id": "P", "commune_id": r("C1")]], ["/residence/province_id format"]),
            ("residence province unknown", ["residence": ["province_id": UUID().lower, "commune_id": r("C1")]], ["/residence/province_id not_found"]),
            ("residence province is a commune", ["residence": ["province_id": r("C1"), "commune_id": r("C1")]], ["/residence/province_id not_a_province"]),
            ("residence commune unknown", ["residence": ["province_id": r("P"), "commune_id": UUID().lower]], ["/residence/commune_id not_found"]),
            ("residence commune is a branch", ["residence": ["province_id": r("P"), "commune_id": r("B1")]], ["/residence/commune_id not_a_commune"]),
            ("residence commune elsewhere", ["residence": ["province_id": r("P"), "commune_id": r("C3")]], ["/residence/commune_id not_in_province"]),
            ("residence commune closed", ["residence": ["province_id": r("P"), "commune_id": r("C2")]], ["/residence/commune_id organization_closed"]),
            ("residence line too long", ["residence": ["province_id": r("P"), "commune_id": r("C1"), "address_line": String(repeating: "x", count: 501)]],
             ["/residence/address_line too_long"]),
            ("exemption value", ["exemption": "partial"], ["/exemption invalid_value"]),
            ("exemption without ground", ["exemption": "activities"], ["/exemption_ground required"]),
            ("introduction without ground", ["exemption": "introduction", "exemption_ground": NSNull()], ["/exemption_ground required"]),
            ("ground without exemption", ["exemption_ground": "HD 33"], ["/exemption_ground not_allowed"]),
            ("ground too long", ["exemption": "activities", "exemption_ground": String(repeating: "x", count: 501)], ["/exemption_ground too_long"]),
            ("unknown field", ["nickname": "Út"], ["/nickname unknown_field"]),
            ("version is not writable", ["version": 3], ["/version unknown_field"]),
            ("two at once", ["sex": "x", "birth_date": "yesterday"], ["/birth_date format", "/sex invalid_value"]),
        ]
        for (label, change, expected) in cases {
            var b = body()
            for (k, v) in change { b[k] = v }
            let res = try call(admin, "POST", "/v1/members", b)
            XCTAssertEqual(res.status, 422, "\(label): \(res.text)")
            XCTAssertEqual(try res.json()["code"] as? String, "validation_failed", label)
            XCTAssertEqual(try fieldErrors(res), expected, label)
        }
        // Every required field, when absent.
        for field in ["party_card_number", "full_name", "sex", "birth_date", "workplace_org_id"] {
            var b = body()
            b.removeValue(forKey: field)
            let res = try call(admin, "POST", "/v1/members", b)
            XCTAssertEqual(res.status, 422, field)
            XCTAssertEqual(try fieldErrors(res), ["/\(field) required"], field)
        }
        // Not a JSON object / not JSON / not JSON at all.
        let notObject = try call(admin, "POST", "/v1/members", [1, 2])
        XCTAssertEqual(notObject.status, 422)
        XCTAssertEqual(try fieldErrors(notObject), [" type"])
        let malformed = try TestHTTP.request(port: t.port, method: "POST", path: "/v1/members",
                                             headers: ["Authorization": "Bearer \(admin)", "Content-Type": "application/json"], body: Array("{".utf8))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual(try malformed.json()["code"] as? String, "malformed_json")
        let form = try TestHTTP.request(port: t.port, method: "POST", path: "/v1/members",
                                        headers: ["Authorization": "Bearer \(admin)", "Content-Type": "text/plain"], body: Array("x".utf8))
        XCTAssertEqual(form.status, 415)

        // A workplace outside the caller's subtree, or none at all: 404 with the pointer.
        for outside in [org["W3"]!, UUID().lower] {
            let res = try call(admin, "POST", "/v1/members", body(workplace: "W1a", extra: ["workplace_org_id": outside]))
            XCTAssertEqual(res.status, 404, res.text)
            XCTAssertEqual(try fieldErrors(res), ["/workplace_org_id not_found"])
        }
        // A residence in another province is fine (the residence is not scoped to the caller).
        try create(body(extra: ["residence": ["province_id": org["P2"]!, "commune_id": org["C3"]!]]), as: admin)

        // PATCH: the same rules, on the merged state.
        let id = try XCTUnwrap(try create(body(), as: admin)["id"] as? String)
        let patchCases: [(String, [String: Any], [String])] = [
            ("null name", ["full_name": NSNull()], ["/full_name required"]),
            ("null exemption", ["exemption": NSNull()], ["/exemption required"]),
            ("exemption needs a ground", ["exemption": "introduction"], ["/exemption_ground required"]),
            ("ground alone", ["exemption_ground": "x"], ["/exemption_ground not_allowed"]),
            ("dates", ["full_member_on": "2000-01-01"], ["/full_member_on out_of_range"]),
            ("drop admission", ["admitted_on": NSNull()], ["/admitted_on required"]),
            ("commune of another province", ["residence": ["commune_id": org["C3"]!]], ["/residence/commune_id not_in_province"]),
            ("province alone", ["residence": ["province_id": NSNull()]], ["/residence/province_id required"]),
            ("workplace residential", ["workplace_org_id": org["B1"]!], ["/workplace_org_id residential_organization"]),
            ("unknown", ["id": id], ["/id unknown_field"]),
            ("created_at", ["created_at": "2020-01-01T00:00:00Z"], ["/created_at unknown_field"]),
        ]
        for (label, change, expected) in patchCases {
            let res = try call(admin, "PATCH", "/v1/members/\(id)", change)
            XCTAssertEqual(res.status, 422, "\(label): \(res.text)")
            XCTAssertEqual(try fieldErrors(res), expected, label)
        }
        let outside = try call(admin, "PATCH", "/v1/members/\(id)", ["workplace_org_id": org["W3"]!])
        XCTAssertEqual(outside.status, 404)
        XCTAssertEqual(try fieldErrors(outside), ["/workplace_org_id not_found"])
        XCTAssertEqual(try call(admin, "GET", "/v1/members/\(id)").headers["etag"], "\"v1\"", "no refused patch wrote anything")
        // Exemption with its ground, then a move between exemptions needs a new ground.
        XCTAssertEqual(try call(admin, "PATCH", "/v1/members/\(id)", ["exemption": "activities", "exemption_ground": "HD 33 §1.1"]).status, 200)
        let switched = try call(admin, "PATCH", "/v1/members/\(id)", ["exemption": "introduction"])
        XCTAssertEqual(try fieldErrors(switched), ["/exemption_ground required"])
    }

    func testDuplicateCardNumberIs409() throws {
        let card = nextCard()
        try create(body(extra: ["party_card_number": card]))
        let dup = try call(token["w1_officer"]!, "POST", "/v1/members", body("Trần Văn Bình", extra: ["party_card_number": card]))
        XCTAssertEqual(dup.status, 409, dup.text)
        XCTAssertEqual(try dup.json()["code"] as? String, "already_exists")
        XCTAssertEqual(try fieldErrors(dup), ["/party_card_number already_exists"])
        // The same through PATCH, and nothing was written.
        let other = try XCTUnwrap(try create(body("Trần Văn Bình"))["id"] as? String)
        let clash = try call(token["w1_officer"]!, "PATCH", "/v1/members/\(other)", ["party_card_number": card])
        XCTAssertEqual(clash.status, 409)
        XCTAssertEqual(try call(token["w1_officer"]!, "GET", "/v1/members/\(other)").headers["etag"], "\"v1\"")
        let db = try Connection(t.databaseURL)
        XCTAssertEqual(try db.queryRow("SELECT count(*) FROM members WHERE party_card_number = $1", card)!.decode(Int.self, 0), 1)
        XCTAssertEqual(try db.queryRow("SELECT count(*) FROM events WHERE type = 'member.created'")!.decode(Int.self, 0), 2)
    }

    // MARK: - Scope and roles

    func testScoping() throws {
        let id = try XCTUnwrap(try create(body())["id"] as? String)
        let path = "/v1/members/\(id)"

        // A sibling organization's admin: not found, for reading and writing alike.
        let sibling = token["w2_admin"]!
        XCTAssertEqual(try call(sibling, "GET", path).status, 404)
        XCTAssertEqual(try call(sibling, "PATCH", path, ["sex": "female"]).status, 404)
        XCTAssertEqual(try names(sibling, "/v1/members"), [])
        let intoSibling = try call(sibling, "POST", "/v1/members", body(workplace: "W1a"))
        XCTAssertEqual(intoSibling.status, 404)
        XCTAssertEqual(try call(sibling, "GET", "/v1/members/\(UUID().lower)").status, 404)
        XCTAssertEqual(try call(sibling, "GET", "/v1/members/not-a-uuid").status, 404)

        // A viewer reads, never writes (403 inside its scope).
        let viewer = token["w1_viewer"]!
        XCTAssertEqual(try call(viewer, "GET", path).status, 200)
        let viewerPatch = try call(viewer, "PATCH", path, ["sex": "female"])
        XCTAssertEqual(viewerPatch.status, 403)
        XCTAssertEqual(try viewerPatch.json()["code"] as? String, "forbidden")
        XCTAssertEqual(try call(viewer, "POST", "/v1/members", body()).status, 403)
        XCTAssertEqual(try call(token["p_viewer"]!, "POST", "/v1/members", body()).status, 403)

        // Ancestors read and act; no token, no access.
        XCTAssertEqual(try call(token["p_viewer"]!, "GET", path).status, 200)
        XCTAssertEqual(try call(token["p_admin"]!, "PATCH", path, ["sex": "female"]).status, 200)
        XCTAssertEqual(try TestHTTP.request(port: t.port, method: "GET", path: path).status, 401)

        // A commune account: sees members of the workplaces under it, except introduction-exempt ones.
        let commune = token["c1_officer"]!
        XCTAssertEqual(try call(commune, "GET", path).status, 404, "W1 is not under the commune")
        let plain = try XCTUnwrap(try create(body("Phạm Văn Cường", workplace: "WC"), as: commune)["id"] as? String)
        let exemptBody = body("Hoàng Văn Dũng", workplace: "WC", extra: ["exemption": "introduction", "exemption_ground": "HD 33 §1.2"])
        let refused = try call(commune, "POST", "/v1/members", exemptBody)
        XCTAssertEqual(refused.status, 422)
        XCTAssertEqual(try fieldErrors(refused), ["/exemption not_allowed"])
        let hidden = try XCTUnwrap(try create(exemptBody, as: token["p_admin"]!)["id"] as? String)
        XCTAssertEqual(try call(commune, "GET", "/v1/members/\(plain)").status, 200)
        XCTAssertEqual(try call(commune, "GET", "/v1/members/\(hidden)").status, 404)
        XCTAssertEqual(try call(commune, "PATCH", "/v1/members/\(hidden)", ["sex": "female"]).status, 404)
        XCTAssertEqual(try names(commune, "/v1/members"), ["Phạm Văn Cường"])
        XCTAssertEqual(try names(commune, "/v1/members?exemption=introduction"), [])
        XCTAssertEqual(try names(commune, "/v1/members?q=\(q("hoang van dung"))"), [])
        XCTAssertEqual(try call(commune, "PATCH", "/v1/members/\(plain)", ["exemption": "introduction", "exemption_ground": "x"]).status, 422)
        // A residential branch account sees nothing of the workplace side.
        XCTAssertEqual(try names(token["b1_officer"]!, "/v1/members"), [])
        XCTAssertEqual(try call(token["b1_officer"]!, "GET", "/v1/members/\(plain)").status, 404)
        // The province sees both.
        XCTAssertEqual(Set(try names(token["p_viewer"]!, "/v1/members?org_id=\(org["WC"]!)")), ["Phạm Văn Cường", "Hoàng Văn Dũng"])
        XCTAssertEqual(try call(token["p_viewer"]!, "GET", "/v1/members/\(hidden)").status, 200)
    }

    // MARK: - Search

    func testSearchIsAccentAndCaseInsensitiveWithExactAccentFirst() throws {
        let officer = token["w1_officer"]!
        // Created first so that creation order alone would put them first.
        try create(body("Nguyễn Văn Dục"))
        try create(body("Nguyễn Văn Đục"))
        try create(body("Nguyễn Văn Đức Anh"))
        let exact = try create(body("Nguyễn Văn Đức"))
        try create(body("Trần Văn Đức"))
        try create(body("Lê Thị Lan"))

        let unaccented = try names(officer, "/v1/members?q=\(q("nguyen van duc"))")
        XCTAssertEqual(Set(unaccented.prefix(3)), ["Nguyễn Văn Dục", "Nguyễn Văn Đục", "Nguyễn Văn Đức"], "equal keys, most similar")
        XCTAssertEqual(unaccented.last, "Nguyễn Văn Đức Anh", "less similar: longer")
        XCTAssertEqual(try names(officer, "/v1/members?q=\(q("NGUYEN  VAN   DUC"))").count, 4)

        // Exact-accent (any case) matches first, then by similarity: "Đức Anh" contains the query
        // with its accents, "Dục"/"Đục" do not, despite being closer in length.
        let accented = try names(officer, "/v1/members?q=\(q("nguyễn văn ĐỨC"))")
        XCTAssertEqual(Array(accented.prefix(2)), ["Nguyễn Văn Đức", "Nguyễn Văn Đức Anh"])
        XCTAssertEqual(Set(accented.suffix(2)), ["Nguyễn Văn Dục", "Nguyễn Văn Đục"])
        let duc = try names(officer, "/v1/members?q=\(q("Đức"))")
        XCTAssertEqual(Set(duc.prefix(3)), ["Nguyễn Văn Đức", "Nguyễn Văn Đức Anh", "Trần Văn Đức"])
        XCTAssertEqual(Set(duc.suffix(2)), ["Nguyễn Văn Dục", "Nguyễn Văn Đục"])
        // đ → d, and the search is a substring search.
        XCTAssertEqual(Set(try names(officer, "/v1/members?q=duc")).count, 5)
        XCTAssertEqual(try names(officer, "/v1/members?q=\(q("thi lan"))"), ["Lê Thị Lan"])
        XCTAssertEqual(try names(officer, "/v1/members?q=\(q("lan%"))"), [], "LIKE wildcards are literal")
        XCTAssertEqual(try names(officer, "/v1/members?q=\(q("thi l_n"))"), [])

        // A card number matches exactly on party_card_number.
        let card = try XCTUnwrap(exact["party_card_number"] as? String)
        XCTAssertEqual(try names(officer, "/v1/members?q=\(card)"), ["Nguyễn Văn Đức"])
        XCTAssertEqual(try names(officer, "/v1/members?q=\(card.dropLast())"), [])
        // Too short to search by name.
        let short = try call(officer, "GET", "/v1/members?q=an")
        XCTAssertEqual(short.status, 400)
        XCTAssertEqual(try fieldErrors(short), ["?q invalid_parameter"])
        // Combined with the other filters.
        XCTAssertEqual(try names(officer, "/v1/members?q=duc&exemption=activities"), [])
        XCTAssertEqual(try names(token["w2_admin"]!, "/v1/members?q=duc"), [])
    }

    // MARK: - Paging

    /// Walks a list by its Link headers, calling `between` after each page.
    func walk(_ bearer: String, _ first: String, between: (Int) throws -> Void) throws -> [String] {
        var seen: [String] = []
        var path = first
        var page = 0
        while true {
            let r = try call(bearer, "GET", path)
            let json = try r.json()
            XCTAssertEqual(r.status, 200, r.text)
            seen += (json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            page += 1
            try between(page)
            guard let next = r.headers["link"] else { XCTAssertTrue(json["next_cursor"] is NSNull); break }
            XCTAssertNotNil(json["next_cursor"] as? String)
            path = String(next.dropFirst().prefix { $0 != ">" })
            XCTAssertLessThan(page, 50)
        }
        return seen
    }

    func testPagingLosesAndRepeatsNothingWhileRowsAreInserted() throws {
        let officer = token["w1_officer"]!
        var original: [String] = []
        for i in 0..<12 { original.append(try XCTUnwrap(try create(body("Đặng Văn Số \(i)"))["id"] as? String)) }
        var added: [String] = []
        let seen = try walk(officer, "/v1/members?limit=5") { _ in
            added.append(try XCTUnwrap(try self.create(self.body("Đặng Văn Mới"))["id"] as? String))
        }
        XCTAssertEqual(seen.count, Set(seen).count, "a row was repeated")
        XCTAssertTrue(Set(original).isSubset(of: Set(seen)), "a row was lost")
        XCTAssertEqual(Set(seen).subtracting(original).isSubset(of: Set(added)), true)
        XCTAssertEqual(try call(officer, "GET", "/v1/members?cursor=bogus").status, 400)
        XCTAssertEqual(try call(officer, "GET", "/v1/members?limit=0").status, 400)
        XCTAssertEqual(try call(officer, "GET", "/v1/members?limit=501").status, 400)
    }

    func testRankedPagingLosesAndRepeatsNothingWhileRowsAreInserted() throws {
        let officer = token["w1_officer"]!
        // Names of different similarity to the query, several with equal scores (ties broken by
        // created_at, id), exact-accent and not.
        let names = ["Nguyễn Văn Hùng", "Nguyễn Văn Hưng", "Nguyễn Văn Hùng Cường", "Nguyễn Văn Hùng", "Trần Nguyễn Văn Hùng",
                     "Nguyen Van Hung", "Nguyễn Văn Hùng", "Nguyễn Văn Hùng Anh", "Nguyễn Văn Hừng", "Nguyễn Văn Hùng"]
        var original: [String] = []
        for n in names { original.append(try XCTUnwrap(try create(body(n))["id"] as? String)) }
        for other in ["Trần Thị Mai", "Nguyễn Thị Hùng"] { try create(body(other)) }  // not matching
        var added: [String] = []
        let newNames = ["Nguyễn Văn Hùng", "Nguyễn Hùng", "Nguyễn Văn Hùng Dũng", "Nguyễn Văn Hung"]
        let seen = try walk(officer, "/v1/members?q=\(q("Nguyễn Văn Hùng"))&limit=3") { page in
            guard page <= newNames.count else { return }
            added.append(try XCTUnwrap(try self.create(self.body(newNames[page - 1]))["id"] as? String))
        }
        XCTAssertEqual(seen.count, Set(seen).count, "a row was repeated")
        XCTAssertEqual(Set(original).subtracting(seen), [], "a row was lost")
        XCTAssertTrue(Set(seen).subtracting(original).isSubset(of: Set(added)))
        // Cursor of a ranked list does not fit an unranked one.
        let first = try call(officer, "GET", "/v1/members?q=\(q("Nguyễn Văn Hùng"))&limit=3")
        let cursor = try XCTUnwrap(first.json()["next_cursor"] as? String)
        XCTAssertEqual(try call(officer, "GET", "/v1/members?cursor=\(cursor)").status, 400)
    }

    // MARK: - The search is index-backed

    func testNameSearchUsesTheTrigramIndex() throws {
        let db = try Connection(t.databaseURL)
        let workplace = UUID(uuidString: org["W1a"]!)!
        // 4,096 members with realistic names in one workplace.
        try db.execute("""
            WITH fam(a) AS (SELECT unnest(ARRAY['Nguyễn','Trần','Lê','Phạm','Hoàng','Huỳnh','Phan','Vũ','Võ','Đặng','Bùi','Đỗ','Hồ','Ngô','Dương','Lý'])),
                 mid(b) AS (SELECT unnest(ARRAY['Văn','Thị','Hữu','Đức','Minh','Ngọc','Thanh','Quang'])),
                 giv(c) AS (SELECT unnest(ARRAY['An','Bình','Cường','Dũng','Đức','Dục','Hà','Hải','Hạnh','Hùng','Lan','Linh','Long','Mai','Nam','Nga',
                                               'Phúc','Quân','Sơn','Tâm','Thảo','Trang','Tuấn','Việt','Yến','Hương','Khánh','Lộc','Minh','Oanh','Tú','Vy']))
            INSERT INTO members (party_card_number, full_name, sex, birth_date, workplace_org_id, workplace_path)
            SELECT 'X' || lpad(row_number() OVER ()::text, 7, '0'), a || ' ' || b || ' ' || c, 'female', DATE '1985-01-01', o.id, o.path
            FROM fam, mid, giv, organizations o WHERE o.id = $1
            """, workplace)
        // 5.5 M demo members have ~90,000 spellings; 4,096 would fit a sequential scan.
        try db.execute("INSERT INTO member_name_forms SELECT 'khac ' || g, 'khac ' || g FROM generate_series(1, 60000) g")
        try db.execute("ANALYZE members")
        try db.execute("ANALYZE member_name_forms")
        let provincePath = try XCTUnwrap(try db.queryRow("SELECT path::text FROM organizations WHERE id = $1", UUID(uuidString: org["P"]!)!)).decode(String.self, 0)

        func plan(_ query: MemberListQuery, after: [String]? = nil, analyze: Bool = false) throws -> String {
            let (sql, params) = try query.sql(after: after, limit: 50)
            let rows = try db.queryUnprepared("EXPLAIN (\(analyze ? "ANALYZE, " : "")COSTS OFF) " + sql, parameters: params)
            return try rows.map { try $0.decode(String.self, 0) }.joined(separator: "\n")
        }
        // A province reads the ranked spellings through their trigram index, then each spelling's
        // members through the (lower(full_name), created_at, id) index.
        let search = MemberListQuery(scopePath: provincePath, visibilitySQL: "m.exemption <> 'introduction'", search: .name("nguyen van duc"))
        XCTAssertTrue(search.spellingFirst)
        let first = try plan(search, analyze: true)
        print("EXPLAIN ANALYZE of q=nguyen van duc over 4,096 members:\n\(first)")
        XCTAssertTrue(first.contains("member_name_forms_trgm"), first)
        XCTAssertTrue(first.contains("members_name_form"), first)
        XCTAssertFalse(first.contains("Seq Scan"), first)
        let next = try plan(search, after: ["-1.5", "nguyễn văn đức", "2026-01-01T00:00:00.000000Z", UUID().lower])
        XCTAssertTrue(next.contains("member_name_forms_trgm"), next)
        XCTAssertTrue(next.contains("members_name_form"), next)
        // A workplace (deeper) joins its members to the spellings; with all 4,096 members in it,
        // the planner rightly reads them by spelling here.
        var inWorkplace = search
        inWorkplace.orgPath = try XCTUnwrap(try db.queryRow("SELECT path::text FROM organizations WHERE id = $1", workplace)).decode(String.self, 0)
        XCTAssertFalse(inWorkplace.spellingFirst)
        let deep = try plan(inWorkplace)
        XCTAssertTrue(deep.contains("member_name_forms_trgm"), deep)
        XCTAssertFalse(deep.contains("Seq Scan"), deep)
        // The card lookup uses the unique index.
        let card = try plan(MemberListQuery(scopePath: provincePath, visibilitySQL: "TRUE", search: .card("X0000001")))
        XCTAssertTrue(card.contains("members_party_card_number_key"), card)

        // And the API answers from it: 16 "… Đức Hà" (exact accents) first, then 32 "… Đức Hải/Hạnh".
        let r = try call(token["p_viewer"]!, "GET", "/v1/members?q=\(q("Đức Hà"))&limit=500")
        let found = try items(r).compactMap { $0["full_name"] as? String }
        XCTAssertEqual(found.count, 48)
        XCTAssertTrue(found.prefix(16).allSatisfy { $0.hasSuffix("Đức Hà") }, "\(found)")
        XCTAssertTrue(found.dropFirst(16).allSatisfy { $0.hasSuffix("Đức Hải") || $0.hasSuffix("Đức Hạnh") }, "\(found)")
    }
}
