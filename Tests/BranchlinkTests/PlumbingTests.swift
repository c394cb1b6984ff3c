import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// The API conventions every route shares (DESIGN.md §3), exercised through organizations:
/// keyset paging under concurrent inserts, cursors and limits, ETags and conditional requests,
/// every validation code with its pointer, localized problem titles, authentication failures,
/// malformed bodies and content types, rate limits.
final class PlumbingTests: XCTestCase {
    static let root = "00000000-0000-4000-8000-000000000001"
    var t: TestApp!
    var db: Connection!
    var admin = ""

    override func setUpWithError() throws {
        t = try TestApp()
        db = try Connection(t.databaseURL)
        admin = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .admin, name: "plumbing admin").secret
    }

    override func tearDown() { t.stop() }

    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil, raw: [UInt8]? = nil,
              headers: [String: String] = [:], token: String? = nil) throws -> TestResponse {
        var h = ["Authorization": "Bearer \(token ?? admin)"]
        var bytes: [UInt8] = raw ?? []
        if let body {
            h["Content-Type"] = "application/json"
            bytes = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        }
        for (k, v) in headers { h[k] = v }
        return try TestHTTP.request(port: t.port, method: method, path: path, headers: h, body: bytes)
    }

    @discardableResult
    func create(_ parent: String, _ kind: String, _ sector: String, _ code: String, name: String? = nil) throws -> String {
        let r = try call("POST", "/v1/organizations", ["parent_id": parent, "kind": kind, "sector": sector, "code": code, "name": name ?? "Tổ chức \(code)"])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    /// Inserts `count` communes under `parent` straight in the database (fast fixtures).
    func insertCommunes(_ parent: String, prefix: String, count: Int) throws {
        try db.execute("""
            INSERT INTO organizations (id, parent_id, path, kind, sector, code, name)
            SELECT g.id, p.id, p.path || org_label(g.id), 'commune', 'ward', $2 || g.n, 'Phường ' || g.n
            FROM organizations p, (SELECT gen_random_uuid() AS id, n FROM generate_series(1, $3::int) n) g WHERE p.id = $1
            """, UUID(uuidString: parent)!, prefix, count)
    }

    func items(_ r: TestResponse) -> [[String: Any]] { ((try? r.json())?["items"] as? [[String: Any]]) ?? [] }

    func problem(_ r: TestResponse) -> (code: String?, errors: [(pointer: String, code: String)]) {
        let json = (try? r.json()) ?? [:]
        let errors = (json["errors"] as? [[String: Any]] ?? []).map { ($0["pointer"] as? String ?? "?", $0["code"] as? String ?? "?") }
        return (json["code"] as? String, errors)
    }

    /// Follows `Link: rel="next"` from `path` to the end; returns the codes seen, page by page.
    /// `between` runs after each page (e.g. to insert rows).
    func pages(_ path: String, between: (Int) throws -> Void = { _ in }) throws -> [[String]] {
        var out: [[String]] = []
        var next: String? = path
        while let p = next {
            let r = try call("GET", p)
            XCTAssertEqual(r.status, 200, r.text)
            let json = try r.json()
            out.append(items(r).compactMap { $0["code"] as? String })
            if let link = r.headers["link"] {
                XCTAssertTrue(link.hasSuffix(">; rel=\"next\""), link)
                let url = String(link.dropFirst().prefix { $0 != ">" })
                let cursor = try XCTUnwrap(json["next_cursor"] as? String, "Link without next_cursor")
                XCTAssertTrue(url.hasSuffix("cursor=\(cursor)"), "Link \(url) does not carry next_cursor \(cursor)")
                next = url
            } else {
                XCTAssertTrue(json["next_cursor"] is NSNull, "next_cursor without Link")
                next = nil
            }
            try between(out.count)
            XCTAssertLessThan(out.count, 1000, "paging does not end")
            if out.count >= 1000 { break }
        }
        return out
    }

    // MARK: - Paging

    /// Rows inserted between pages (including in the same microsecond-ordered tail the cursor points
    /// into) never make a row repeat, and no row that existed before the listing is lost; the Link
    /// header keeps the filters and the limit.
    func testPagingIsStableWhileRowsAreInserted() throws {
        let province = try create(Self.root, "province", "province", "PG")
        try insertCommunes(province, prefix: "PG-A", count: 23)
        let before = Set(try pages("/v1/organizations?parent_id=\(province)&limit=500").flatMap { $0 })
        XCTAssertEqual(before.count, 23)

        var inserted: Set<String> = []
        let seen = try pages("/v1/organizations?parent_id=\(province)&kind=commune&limit=4") { page in
            // Two rows per page boundary: one through the API, one straight in the database.
            let code = "PG-B\(page)"
            try self.create(province, "commune", "commune", code)
            try self.insertCommunes(province, prefix: "PG-C\(page)-", count: 1)
            inserted.insert(code)
            inserted.insert("PG-C\(page)-1")
        }
        XCTAssertTrue(seen.dropLast().allSatisfy { $0.count == 4 }, "every page but the last is full: \(seen.map(\.count))")
        let flat = seen.flatMap { $0 }
        XCTAssertEqual(flat.count, Set(flat).count, "a row was repeated: \(flat)")
        XCTAssertTrue(before.isSubset(of: Set(flat)), "rows lost: \(before.subtracting(flat))")
        XCTAssertTrue(Set(flat).isSubset(of: before.union(inserted)), "rows from nowhere: \(Set(flat).subtracting(before.union(inserted)))")
        // Rows inserted after the cursor's position are reached before the end.
        XCTAssertFalse(Set(flat).intersection(inserted).isEmpty)

        // The Link of a filtered page keeps the filter and the limit.
        let first = try call("GET", "/v1/organizations?parent_id=\(province)&limit=2")
        let link = try XCTUnwrap(first.headers["link"])
        XCTAssertTrue(link.hasPrefix("</v1/organizations?"), link)
        XCTAssertTrue(link.contains("parent_id=\(province)"), link)
        XCTAssertTrue(link.contains("limit=2"), link)
    }

    func testLimitBoundsAndDefault() throws {
        let province = try create(Self.root, "province", "province", "PL")
        try insertCommunes(province, prefix: "PL-", count: 51)
        let base = "/v1/organizations?parent_id=\(province)"
        let byDefault = try call("GET", base)
        XCTAssertEqual(items(byDefault).count, 50, "default page size")
        XCTAssertNotNil(byDefault.headers["link"])
        XCTAssertEqual(items(try call("GET", base + "&limit=1")).count, 1)
        let all = try call("GET", base + "&limit=500")
        XCTAssertEqual(items(all).count, 51)
        XCTAssertNil(all.headers["link"], "no next page")
        XCTAssertTrue(try all.json()["next_cursor"] is NSNull)
        for bad in ["0", "501", "-1", "abc", "1.5", ""] {
            let r = try call("GET", base + "&limit=\(bad)")
            XCTAssertEqual(r.status, 400, "limit=\(bad): \(r.text)")
            let p = problem(r)
            XCTAssertEqual(p.code, "invalid_parameter", "limit=\(bad)")
            XCTAssertEqual(p.errors.first?.pointer, "?limit", "limit=\(bad)")
        }
    }

    func testCursorsTheListDidNotIssueAre400() throws {
        let province = try create(Self.root, "province", "province", "PC")
        try insertCommunes(province, prefix: "PC-", count: 3)
        let first = try call("GET", "/v1/organizations?parent_id=\(province)&limit=1")
        let good = try XCTUnwrap(try first.json()["next_cursor"] as? String)
        XCTAssertEqual(try call("GET", "/v1/organizations?parent_id=\(province)&limit=1&cursor=\(good)").status, 200)

        func b64url(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let bad = [
            "bogus!",                                                        // not base64url
            b64url("not json"),                                              // not JSON
            b64url("{\"k\":1}"),                                             // not an array
            b64url("[\"2025-01-01T00:00:00Z\"]"),                            // wrong number of keys
            b64url("[\"yesterday\",\"\(UUID().uuidString)\"]"),              // not a timestamp
            b64url("[\"2025-01-01T00:00:00Z\",\"not-a-uuid\"]"),             // not a UUID
            b64url("[1,2]"),                                                 // keys of the wrong type
        ]
        for cursor in bad {
            let r = try call("GET", "/v1/organizations?parent_id=\(province)&cursor=\(cursor)")
            XCTAssertEqual(r.status, 400, "cursor \(cursor): \(r.text)")
            XCTAssertEqual(problem(r).code, "invalid_cursor", "cursor \(cursor)")
        }
        // An empty cursor is the first page.
        XCTAssertEqual(items(try call("GET", "/v1/organizations?parent_id=\(province)&cursor=")).count, 3)
    }

    // MARK: - ETags

    func testETagsConditionalReadsAndWrites() throws {
        let province = try create(Self.root, "province", "province", "PE")
        let path = "/v1/organizations/\(province)"
        let got = try call("GET", path)
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(got.headers["etag"], "\"v1\"")

        for inm in ["\"v1\"", "W/\"v1\"", "*", "\"v0\", \"v1\""] {
            let r = try call("GET", path, headers: ["If-None-Match": inm])
            XCTAssertEqual(r.status, 304, "If-None-Match: \(inm)")
            XCTAssertEqual(r.headers["etag"], "\"v1\"")
            XCTAssertTrue(r.body.isEmpty, "304 has no body")
        }
        XCTAssertEqual(try call("GET", path, headers: ["If-None-Match": "\"v2\""]).status, 200)

        // Stale If-Match: 412 with the current tag, nothing changes.
        let stale = try call("PATCH", path, ["name": "Tỉnh đổi tên"], headers: ["If-Match": "\"v7\""])
        XCTAssertEqual(stale.status, 412, stale.text)
        XCTAssertEqual(problem(stale).code, "precondition_failed")
        XCTAssertEqual(stale.headers["etag"], "\"v1\"")
        XCTAssertEqual(try call("GET", path).json()["name"] as? String, "Tổ chức PE")

        let fresh = try call("PATCH", path, ["name": "Tỉnh đổi tên"], headers: ["If-Match": "\"v1\""])
        XCTAssertEqual(fresh.status, 200, fresh.text)
        XCTAssertEqual(fresh.headers["etag"], "\"v2\"")
        XCTAssertEqual(try fresh.json()["version"] as? Int, 2)
        XCTAssertEqual(try call("GET", path, headers: ["If-None-Match": "\"v1\""]).status, 200, "the old tag no longer matches")
        XCTAssertEqual(try call("PATCH", path, ["name": "Lần nữa"], headers: ["If-Match": "*"]).status, 200)

        // Actions take If-Match too.
        let commune = try create(province, "commune", "commune", "PE-C")
        let other = try create(Self.root, "province", "province", "PE2")
        let move = try call("POST", "/v1/organizations/\(commune)/move", ["new_parent_id": other], headers: ["If-Match": "\"v9\""])
        XCTAssertEqual(move.status, 412, move.text)
        let merge = try call("POST", "/v1/organizations/\(province)/merge", ["into_id": other], headers: ["If-Match": "\"v1\""])
        XCTAssertEqual(merge.status, 412, merge.text)
        XCTAssertEqual(try call("GET", "/v1/organizations/\(commune)").json()["parent_id"] as? String, province)
    }

    // MARK: - Validation

    /// Every validation code organizations answer, each at its JSON Pointer, all errors of a body
    /// in one answer.
    func testEveryValidationCodeOfOrganizations() throws {
        let province = try create(Self.root, "province", "province", "PV")
        let commune = try create(province, "commune", "commune", "PV-C")
        let valid: [String: Any] = ["parent_id": province, "kind": "commune", "sector": "ward", "code": "PV-NEW", "name": "Phường Mới"]
        /// The valid body with one field replaced (nil: removed).
        func with(_ key: String, _ value: Any?) -> [String: Any] {
            var b = valid
            b[key] = value
            return b
        }
        let cases: [(body: [String: Any], pointer: String, code: String)] = [
            (with("name", nil), "/name", "required"),
            (with("name", NSNull()), "/name", "required"),
            (with("name", "   "), "/name", "required"),
            (with("name", 42), "/name", "type"),
            (with("name", ["x"]), "/name", "type"),
            (with("name", String(repeating: "ắ", count: 301)), "/name", "too_long"),
            (with("name", "Phường\u{1}Mới"), "/name", "invalid_characters"),
            (with("parent_id", "not-a-uuid"), "/parent_id", "format"),
            (with("parent_id", 7), "/parent_id", "format"),
            (with("code", "PV NEW"), "/code", "format"),
            (with("code", String(repeating: "C", count: 65)), "/code", "too_long"),
            (with("valid_from", "2025-02-30"), "/valid_from", "format"),
            (with("valid_from", "25-01-01"), "/valid_from", "format"),
            (with("kind", "planet"), "/kind", "invalid_value"),
            (with("sector", 3), "/sector", "invalid_value"),
            (with("sector", "army"), "/sector", "invalid_value"),
            (with("colour", "red"), "/colour", "unknown_field"),
            (with("parent_id", commune), "/parent_id", "invalid_parent"),
        ]
        for c in cases {
            let r = try call("POST", "/v1/organizations", c.body)
            XCTAssertEqual(r.status, 422, "\(c.pointer) \(c.code): \(r.text)")
            let p = problem(r)
            XCTAssertTrue(["validation_failed", "invalid_parent"].contains(p.code ?? ""), r.text)
            XCTAssertTrue(p.errors.contains { $0.pointer == c.pointer && $0.code == c.code },
                          "expected \(c.code) at \(c.pointer), got \(p.errors)")
        }

        // All problems of one body come back together.
        let many = try call("POST", "/v1/organizations", ["kind": "planet", "name": 1, "extra": true])
        XCTAssertEqual(many.status, 422)
        let found = Set(problem(many).errors.map { "\($0.pointer) \($0.code)" })
        XCTAssertEqual(found, ["/parent_id required", "/kind invalid_value", "/sector required", "/code required",
                               "/name type", "/extra unknown_field"])

        // A body that is JSON but not an object: the whole body at the empty pointer.
        let array = try call("POST", "/v1/organizations", raw: Array("[1,2]".utf8), headers: ["Content-Type": "application/json"])
        XCTAssertEqual(array.status, 422, array.text)
        XCTAssertEqual(problem(array).errors.first?.pointer, "")

        // Rules on stored state: a duplicate code, valid_to before valid_from, a merge across kinds.
        let dup = try call("POST", "/v1/organizations", with("code", "PV-C"))
        XCTAssertEqual(dup.status, 409, dup.text)
        XCTAssertEqual(problem(dup).code, "already_exists")
        XCTAssertTrue(problem(dup).errors.contains { $0.pointer == "/code" && $0.code == "already_exists" })
        let early = try call("PATCH", "/v1/organizations/\(commune)", ["valid_to": "1999-01-01"])
        XCTAssertEqual(early.status, 422, early.text)
        XCTAssertTrue(problem(early).errors.contains { $0.pointer == "/valid_to" && $0.code == "out_of_range" })
        let acrossKinds = try call("POST", "/v1/organizations/\(commune)/merge", ["into_id": province])
        XCTAssertEqual(acrossKinds.status, 422, acrossKinds.text)
        XCTAssertTrue(problem(acrossKinds).errors.contains { $0.pointer == "/into_id" && $0.code == "invalid_merge" })
        let intoItself = try call("POST", "/v1/organizations/\(commune)/merge", ["into_id": commune])
        XCTAssertTrue(problem(intoItself).errors.contains { $0.pointer == "/into_id" && $0.code == "invalid_value" })
        let underItself = try call("POST", "/v1/organizations/\(province)/move", ["new_parent_id": province])
        XCTAssertEqual(underItself.status, 422, underItself.text)
        XCTAssertTrue(problem(underItself).errors.contains { $0.pointer == "/new_parent_id" || $0.pointer == "/parent_id" })

        // Query parameters: 400 with a `?name` pointer.
        for (query, name) in [("kind=planet", "kind"), ("parent_id=x", "parent_id"), ("subtree_of=1", "subtree_of"),
                              ("q=" + String(repeating: "a", count: 101), "q")] {
            let r = try call("GET", "/v1/organizations?\(query)")
            XCTAssertEqual(r.status, 400, "\(query): \(r.text)")
            XCTAssertEqual(problem(r).code, "invalid_parameter")
            XCTAssertEqual(problem(r).errors.first?.pointer, "?\(name)")
        }
    }

    /// A PATCH with `"valid_to": null` reopens a closed organization (the contract's documented way).
    func testPatchValidToNullReopens() throws {
        let province = try create(Self.root, "province", "province", "PR")
        let closed = try call("PATCH", "/v1/organizations/\(province)", ["valid_to": "2099-12-31"])
        XCTAssertEqual(closed.status, 200, closed.text)
        let reopened = try call("PATCH", "/v1/organizations/\(province)", ["valid_to": NSNull()])
        XCTAssertEqual(reopened.status, 200, reopened.text)
        XCTAssertTrue(try reopened.json()["valid_to"] is NSNull)
    }

    /// Text is stored in NFC and its length counted in code points, as the database counts them:
    /// 200 decomposed letters (e + combining acute) are 200 characters once composed, not a 500; a
    /// letter with a mark that has no precomposed form stays two code points and counts twice.
    func testTextIsNFCAndLengthsCountCodePoints() throws {
        let province = try create(Self.root, "province", "province", "PT")
        let decomposed = String(repeating: "e\u{301}", count: 200)
        let r = try call("POST", "/v1/organizations", ["parent_id": province, "kind": "commune", "sector": "ward", "code": "PT-1", "name": decomposed])
        XCTAssertEqual(r.status, 201, r.text)
        let stored = try XCTUnwrap(try r.json()["name"] as? String)
        XCTAssertEqual(Array(stored.unicodeScalars), Array(String(repeating: "\u{E9}", count: 200).unicodeScalars), "stored in NFC")

        let uncomposable = String(repeating: "q\u{301}", count: 151)  // 302 code points, 151 characters on screen
        let long = try call("PATCH", "/v1/organizations/\(province)", ["name": uncomposable])
        XCTAssertEqual(long.status, 422, long.text)
        XCTAssertTrue(problem(long).errors.contains { $0.pointer == "/name" && $0.code == "too_long" })
        let fits = try call("PATCH", "/v1/organizations/\(province)", ["name": String(repeating: "q\u{301}", count: 150)])
        XCTAssertEqual(fits.status, 200, fits.text)
    }

    /// Query parameters that PostgreSQL text cannot hold (NUL) or that hold any control character,
    /// and values over 1000 characters, are a 400 of that parameter on every route, before the
    /// token is even looked at.
    func testControlCharactersAndOverlongQueryParametersAre400() throws {
        for (query, name) in [("q=%00abc", "q"), ("q=ab%00", "q"), ("q=%01%02%03", "q"), ("kind=%7F", "kind"),
                              ("cursor=" + String(repeating: "a", count: 1001), "cursor")] {
            let r = try call("GET", "/v1/organizations?\(query)")
            XCTAssertEqual(r.status, 400, "\(query.prefix(20)): \(r.text)")
            XCTAssertEqual(problem(r).code, "invalid_parameter")
            XCTAssertEqual(problem(r).errors.first?.pointer, "?\(name)")
        }
        let anonymous = try TestHTTP.request(port: t.port, method: "GET", path: "/v1/members?q=%00")
        XCTAssertEqual(anonymous.status, 400, anonymous.text)
        XCTAssertEqual(try call("GET", "/v1/organizations?q=" + String(repeating: "a", count: 100)).status, 200)
    }

    // MARK: - Bodies, languages, authentication

    func testMalformedBodiesAndContentTypes() throws {
        for raw in ["{", "{\"name\": }", "nul", "\u{FF}\u{FE}"] {
            let r = try call("POST", "/v1/organizations", raw: Array(raw.utf8), headers: ["Content-Type": "application/json"])
            XCTAssertEqual(r.status, 400, "\(raw): \(r.text)")
            XCTAssertEqual(problem(r).code, "malformed_json")
            XCTAssertEqual(r.headers["content-type"], "application/problem+json")
        }
        for type in ["text/plain", "application/x-www-form-urlencoded", "text/csv"] {
            let r = try call("POST", "/v1/organizations", raw: Array("{}".utf8), headers: ["Content-Type": type])
            XCTAssertEqual(r.status, 415, "\(type): \(r.text)")
            XCTAssertEqual(problem(r).code, "unsupported_media_type")
        }
        // application/json with parameters is JSON.
        let withCharset = try call("POST", "/v1/organizations", raw: Array("{}".utf8), headers: ["Content-Type": "application/json; charset=utf-8"])
        XCTAssertEqual(withCharset.status, 422)
    }

    func testProblemTitlesFollowAcceptLanguage() throws {
        let missing = "/v1/organizations/\(UUID().uuidString.lowercased())"
        let cases: [(header: String?, title: String, language: String)] = [
            (nil, "Không tìm thấy", "vi"),
            ("vi", "Không tìm thấy", "vi"),
            ("en", "Not found", "en"),
            ("en-US,en;q=0.9", "Not found", "en"),
            ("vi;q=0.2, en;q=0.8", "Not found", "en"),
            ("en;q=0.3, vi-VN;q=0.9", "Không tìm thấy", "vi"),
            ("fr", "Không tìm thấy", "vi"),
        ]
        for c in cases {
            let r = try call("GET", missing, headers: c.header.map { ["Accept-Language": $0] } ?? [:])
            XCTAssertEqual(r.status, 404)
            let json = try r.json()
            XCTAssertEqual(json["title"] as? String, c.title, "Accept-Language: \(c.header ?? "-")")
            XCTAssertEqual(json["code"] as? String, "not_found", "codes never change with the language")
            XCTAssertEqual(json["type"] as? String, "https://branchlink.example/problems/not_found")
            XCTAssertEqual(json["status"] as? Int, 404)
            XCTAssertEqual(r.headers["content-language"], c.language)
        }
        // Validation messages keep their codes and pointers in both languages.
        for lang in ["vi", "en"] {
            let r = try call("POST", "/v1/organizations", ["name": 1], headers: ["Accept-Language": lang])
            XCTAssertEqual(problem(r).code, "validation_failed")
            XCTAssertEqual(try r.json()["title"] as? String, lang == "vi" ? "Dữ liệu không hợp lệ" : "Validation failed")
        }
    }

    func testUnauthenticatedRequestsAre401WithChallenge() throws {
        let account = UUID()
        let orgRow = try XCTUnwrap(try db.queryRow("SELECT id FROM organizations WHERE code = 'TW'"))
        try db.execute("INSERT INTO accounts (id, org_id, role, name) VALUES ($1, $2, 'admin', 'to be disabled')", account, try orgRow.decode(UUID.self, 0))
        let disabled = try TokenIssuer.issue(db, accountID: account, name: "d").secret
        try db.execute("UPDATE accounts SET disabled_at = now() WHERE id = $1", account)
        let revoked = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .viewer, name: "revoked")
        try db.execute("UPDATE tokens SET revoked_at = now() WHERE id = $1", revoked.id)
        let expired = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .viewer, name: "expired")
        try db.execute("UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1", expired.id)

        let authorizations: [String?] = [
            nil, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token \(admin)", "Bearer blk_unknown",
            "Bearer \(admin)x", "Bearer \(disabled)", "Bearer \(revoked.secret)", "Bearer \(expired.secret)",
            "Bearer " + String(repeating: "a", count: 300),
        ]
        for auth in authorizations {
            var headers: [String: String] = [:]
            if let auth { headers["Authorization"] = auth }
            for (method, path) in [("GET", "/v1/organizations"), ("POST", "/v1/organizations"), ("GET", "/v1/me")] {
                let r = try TestHTTP.request(port: t.port, method: method, path: path, headers: headers)
                XCTAssertEqual(r.status, 401, "\(method) \(path) with \(auth.map { String($0.prefix(20)) } ?? "no header")")
                XCTAssertEqual(r.headers["www-authenticate"], "Bearer")
                XCTAssertEqual(problem(r).code, "unauthenticated")
                XCTAssertNil(r.headers["ratelimit-limit"], "no bucket is spent without a valid token")
            }
        }
        // The scheme is case-insensitive.
        XCTAssertEqual(try TestHTTP.request(port: t.port, method: "GET", path: "/v1/organizations",
                                            headers: ["Authorization": "bearer \(admin)"]).status, 200)
    }

    func testRequestIDsAndRateLimitHeaders() throws {
        let r = try call("GET", "/v1/organizations", headers: ["X-Request-Id": "plumbing-1.a_b"])
        XCTAssertEqual(r.headers["x-request-id"], "plumbing-1.a_b")
        XCTAssertEqual(r.headers["ratelimit-limit"], String(RateLimiter().limit))
        XCTAssertNotNil(r.headers["ratelimit-remaining"].flatMap(Int.init))
        XCTAssertNotNil(r.headers["ratelimit-reset"].flatMap(Int.init))
        let missing = try call("GET", "/v1/organizations/\(UUID())", headers: ["X-Request-Id": "plumbing-2"])
        XCTAssertEqual(try missing.json()["request_id"] as? String, "plumbing-2")
        let replaced = try call("GET", "/v1/organizations", headers: ["X-Request-Id": "bad id!"])
        XCTAssertNotEqual(replaced.headers["x-request-id"], "bad id!")
        XCTAssertFalse(replaced.headers["x-request-id"]?.isEmpty ?? true)
    }

    func testRateLimitAnswers429WithRetryAfter() throws {
        t.stop()
        t = try TestApp { $0.rateLimiter = RateLimiter(limit: 3, windowSeconds: 60) }
        db = try Connection(t.databaseURL)
        admin = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .admin, name: "limited").secret
        let other = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .viewer, name: "other").secret
        var remaining: [String] = []
        for _ in 0..<3 {
            let r = try call("GET", "/v1/me")
            XCTAssertEqual(r.status, 200)
            remaining.append(r.headers["ratelimit-remaining"] ?? "?")
        }
        XCTAssertEqual(remaining, ["2", "1", "0"])
        let limited = try call("GET", "/v1/me")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(problem(limited).code, "rate_limited")
        XCTAssertEqual(limited.headers["ratelimit-limit"], "3")
        XCTAssertEqual(limited.headers["ratelimit-remaining"], "0")
        let retry = try XCTUnwrap(limited.headers["retry-after"].flatMap(Int.init))
        XCTAssertTrue((1...60).contains(retry), "Retry-After \(retry)")
        XCTAssertEqual(try call("GET", "/v1/me", token: other).status, 200, "limits are per token")
    }
}
