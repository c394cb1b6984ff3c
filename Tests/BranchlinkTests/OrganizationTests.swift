import Branchlink
import Foundation
import HTTP
import Postgres
import XCTest

/// The organization tree over HTTP: create, read, list (paged and CSV), patch, move, merge.
final class OrganizationTests: XCTestCase {
    var t: TestApp!
    var admin = ""

    override func setUpWithError() throws {
        t = try TestApp()
        let db = try Connection(t.databaseURL)
        admin = try TokenIssuer.createAccountWithToken(db, orgCode: "TW", role: .admin, name: "root admin").secret
    }

    override func tearDown() { t.stop() }

    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil, headers: [String: String] = [:]) throws -> TestResponse {
        var h = headers
        h["Authorization"] = "Bearer \(admin)"
        var bytes: [UInt8] = []
        if let body {
            h["Content-Type"] = "application/json"
            bytes = Array(try JSONSerialization.data(withJSONObject: body))
        }
        return try TestHTTP.request(port: t.port, method: method, path: path, headers: h, body: bytes)
    }

    func create(_ parent: String, _ kind: String, _ sector: String, _ code: String, _ name: String) throws -> String {
        let r = try call("POST", "/v1/organizations", ["parent_id": parent, "kind": kind, "sector": sector, "code": code, "name": name])
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.headers["location"].map { $0.hasPrefix("/v1/organizations/") }, true)
        return try XCTUnwrap(r.json()["id"] as? String)
    }

    static let root = "00000000-0000-4000-8000-000000000001"

    func testTreeLifecycle() throws {
        let province = try create(Self.root, "province", "province", "P01", "Tỉnh Bắc Ninh")
        let district = try create(province, "district", "other", "P01-D1", "Huyện Tiên Du")
        let c1 = try create(district, "commune", "commune", "P01-C1", "Xã Nội Duệ")
        let c2 = try create(province, "commune", "commune", "P01-C2", "Xã Liên Bão")
        _ = try create(c1, "branch", "other", "P01-C1-B1", "Chi bộ thôn Đông")

        // Placement rules: a commune cannot sit under a commune.
        let bad = try call("POST", "/v1/organizations", ["parent_id": c1, "kind": "commune", "sector": "commune", "code": "X", "name": "x"])
        XCTAssertEqual(bad.status, 422)
        XCTAssertEqual(try bad.json()["code"] as? String, "invalid_parent")

        // ETag round trip and If-Match.
        let got = try call("GET", "/v1/organizations/\(c1)")
        let etag = try XCTUnwrap(got.headers["etag"])
        XCTAssertEqual(try call("GET", "/v1/organizations/\(c1)", headers: ["If-None-Match": etag]).status, 304)
        XCTAssertEqual(try call("PATCH", "/v1/organizations/\(c1)", ["name": "Xã Nội Duệ mới"], headers: ["If-Match": "\"v999\""]).status, 412)
        let patched = try call("PATCH", "/v1/organizations/\(c1)", ["name": "Xã Nội Duệ mới"], headers: ["If-Match": etag])
        XCTAssertEqual(patched.status, 200, patched.text)
        XCTAssertEqual(try patched.json()["version"] as? Int, 2)

        // 2025: districts abolished — the commune moves up under the province, its branch follows.
        let moved = try call("POST", "/v1/organizations/\(c1)/move", ["new_parent_id": province])
        XCTAssertEqual(moved.status, 200, moved.text)
        let sub = try call("GET", "/v1/organizations?subtree_of=\(province)&kind=branch")
        XCTAssertEqual((try sub.json()["items"] as? [[String: Any]])?.count, 1)

        // Commune merger: C1 into C2; the branch now hangs under C2 and C1 is closed.
        let merged = try call("POST", "/v1/organizations/\(c1)/merge", ["into_id": c2])
        XCTAssertEqual(merged.status, 200, merged.text)
        XCTAssertEqual(try merged.json()["merged_into_id"] as? String, c2)
        XCTAssertNotNil(try merged.json()["valid_to"] as? String)
        let under = try call("GET", "/v1/organizations?parent_id=\(c2)")
        XCTAssertEqual((try under.json()["items"] as? [[String: Any]])?.map { $0["code"] as? String }, ["P01-C1-B1"])

        // Accent-insensitive name search.
        let found = try call("GET", "/v1/organizations?q=noi%20due")
        XCTAssertEqual((try found.json()["items"] as? [[String: Any]])?.count, 1)
    }

    func testPagingIsStableAndCSVHasEverything() throws {
        let province = try create(Self.root, "province", "province", "P02", "Tỉnh Hà Nam")
        for i in 0..<12 { _ = try create(province, "commune", "ward", "P02-W\(i)", "Phường \(i), \"số\"") }
        var seen: [String] = []
        var path = "/v1/organizations?parent_id=\(province)&limit=5"
        var pages = 0
        while true {
            let r = try call("GET", path)
            XCTAssertEqual(r.status, 200, r.text)
            let json = try r.json()
            seen += (json["items"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            pages += 1
            if pages == 1 { _ = try create(province, "commune", "ward", "P02-W99", "Phường mới") }  // inserted mid-listing
            guard let next = r.headers["link"] else { XCTAssertTrue(json["next_cursor"] is NSNull); break }
            path = String(next.dropFirst().prefix { $0 != ">" })
        }
        XCTAssertEqual(seen.count, Set(seen).count, "a row was repeated")
        XCTAssertEqual(Set(seen), Set((0..<12).map { "P02-W\($0)" } + ["P02-W99"]))
        XCTAssertEqual(try call("GET", "/v1/organizations?cursor=bogus").status, 400)

        let csv = try call("GET", "/v1/organizations?parent_id=\(province)", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        XCTAssertEqual(csv.headers["transfer-encoding"], "chunked")
        let text = String(decoding: TestHTTP.dechunk(csv.body), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("\u{FEFF}id,parent_id,kind"))
        XCTAssertEqual(text.split(separator: "\r\n").count, 1 + 13)
        XCTAssertTrue(text.contains("\"Phường 3, \"\"số\"\"\""))
    }
}
