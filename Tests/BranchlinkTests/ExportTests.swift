@testable import Branchlink
import Foundation
import Postgres
import XCTest

/// Lists and reports as CSV and XLSX, directly (`Accept`) and through background exports
/// (`POST /v1/exports` → 202 → status → file). XLSX files are opened with Python's zipfile (CRC
/// checked) and their sheet XML parsed, so a broken archive or workbook fails the test.
final class ExportTests: XCTestCase {
    static let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    func testListsAndReportsAsCSVWithBOMAndXLSX() throws {
        let f = try ExchangeFixture(members: 4)
        defer { f.stop() }
        try f.db.execute("UPDATE members SET full_name = 'Đặng Thị Ánh & <Hòa>' WHERE id = $1::uuid", f.members[0])

        let csv = try f.call("workplace", "GET", "/v1/members", headers: ["Accept": "text/csv"])
        XCTAssertEqual(csv.status, 200)
        XCTAssertEqual(Array(csv.content.prefix(3)), [0xEF, 0xBB, 0xBF], "CSV starts with a UTF-8 BOM")
        XCTAssertEqual(csv.text.split(separator: "\r\n").count, 5)

        let x = try f.call("workplace", "GET", "/v1/members", headers: ["Accept": Self.xlsx])
        XCTAssertEqual(x.status, 200)
        XCTAssertEqual(x.headers["content-type"], Self.xlsx)
        XCTAssertEqual(x.headers["content-disposition"], "attachment; filename=\"members.xlsx\"")
        let book = try Workbook(x.content)
        XCTAssertEqual(book.sheets.count, 1)
        let rows = book.sheets[0]
        XCTAssertEqual(rows.count, 5, "header and four members")
        XCTAssertEqual(rows[0].first, "id")
        XCTAssertTrue(rows.contains { $0.contains("Đặng Thị Ánh & <Hòa>") }, "text escaped and read back intact")

        // A report has the same two table forms.
        let report = try f.call("admin", "GET", "/v1/reports/assessments", headers: ["Accept": Self.xlsx])
        XCTAssertEqual(report.status, 200)
        XCTAssertEqual(try Workbook(report.content).sheets[0].first, ["org_id", "year", "purpose", "status", "requests", "overdue", "confidential"])
    }

    func testCSVLinesQuoteAndDisarmFormulas() {
        XCTAssertEqual(CSVOutput.line(["a", nil, "", "b,c", "say \"hi\"", "=SUM(A1)", "-5", "x\ny", "Đức"]),
                       "a,,,\"b,c\",\"say \"\"hi\"\"\",'=SUM(A1),'-5,\"x\ny\",Đức\r\n")
        XCTAssertEqual(CSVOutput.line(["+1,2"]), "\"'+1,2\"\r\n", "the apostrophe goes inside the quotes")
    }

    func testXLSXSplitsSheetsAtTheRowLimitAndKeepsCodesAsText() throws {
        var bytes: [UInt8] = []
        let w = XLSXWriter(sheetName: "a:b/c[d]", header: ["code", "n", "note"], maxRowsPerSheet: 3) { bytes += $0 }
        for i in 0..<5 { try w.row(["00\(i)", String(i * 1000), i == 2 ? nil : " x\u{1}\u{FFFF}y "]) }
        try w.finish()
        let book = try Workbook(bytes)
        XCTAssertEqual(book.names, ["abcd", "abcd (2)", "abcd (3)"])
        XCTAssertEqual(book.sheets.map(\.count), [3, 3, 2], "each sheet repeats the header; 2 + 2 + 1 data rows")
        XCTAssertEqual(book.sheets[0][1], ["000", "0", " xy "])
        XCTAssertEqual(book.numbers, ["0", "1000", "2000", "3000", "4000"], "whole numbers are numbers, codes with leading zeros text")
        XCTAssertTrue(XLSXWriter.isWholeNumber("-15"))
        XCTAssertFalse(XLSXWriter.isWholeNumber("0123"))
        XCTAssertFalse(XLSXWriter.isWholeNumber("1234567890123456"))
        XCTAssertFalse(XLSXWriter.isWholeNumber("-0"))
    }

    func testBackgroundExportMatchesTheListAndIsPrivate() throws {
        let f = try ExchangeFixture(members: 6)
        defer { f.stop() }
        for format in ["csv", "xlsx"] {
            let created = try f.call("workplace", "POST", "/v1/exports", ["path": "/v1/members?limit=2", "format": format])
            XCTAssertEqual(created.status, 202, created.text)
            let href = try XCTUnwrap(created.headers["location"])
            var status = try f.call("workplace", "GET", href).json()
            let deadline = Date().addingTimeInterval(20)
            while status["status"] as? String != "done" && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
                status = try f.call("workplace", "GET", href).json()
            }
            XCTAssertEqual(status["status"] as? String, "done", "\(status)")
            let file = try f.call("workplace", "GET", href + "/file")
            XCTAssertEqual(file.status, 200)
            XCTAssertEqual(status["bytes"] as? Int, file.content.count)
            XCTAssertEqual(file.headers["x-content-sha256"], status["sha256"] as? String)
            let direct = try f.call("workplace", "GET", "/v1/members", headers: ["Accept": format == "csv" ? "text/csv" : Self.xlsx])
            if format == "csv" {
                XCTAssertEqual(file.text, direct.text, "the whole list, not the page the path names")
            } else {
                XCTAssertEqual(try Workbook(file.content).sheets, try Workbook(direct.content).sheets)
            }
            let etag = try XCTUnwrap(file.headers["etag"])
            XCTAssertEqual(try f.call("workplace", "GET", href + "/file", headers: ["If-None-Match": etag]).status, 304)
            XCTAssertEqual(try f.call("other_workplace", "GET", href).status, 404, "an export is its account's")
            XCTAssertEqual(try f.call("other_workplace", "GET", href + "/file").status, 404)
        }
        // The same list named by source and parameters.
        let bySource = try f.call("workplace", "POST", "/v1/exports", ["source": "members", "params": ["org_id": f.orgs["W1"]!, "limit": 2]])
        XCTAssertEqual(bySource.status, 202, bySource.text)
        XCTAssertEqual(try bySource.json()["path"] as? String, "/v1/members?limit=2&org_id=\(f.orgs["W1"]!)")
        let sourceHref = try XCTUnwrap(bySource.headers["location"])
        let deadline = Date().addingTimeInterval(20)
        while try f.call("workplace", "GET", sourceHref).json()["status"] as? String != "done" && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let list = try f.call("workplace", "GET", "/v1/exports?status=done").json()
        XCTAssertEqual((list["items"] as? [Any])?.count, 3)
        XCTAssertEqual(((try f.call("other_workplace", "GET", "/v1/exports").json())["items"] as? [Any])?.count, 0)
    }

    func testExportRequestsAreCheckedWhenAsked() throws {
        let f = try ExchangeFixture(members: 1)
        defer { f.stop() }
        func problem(_ body: [String: Any]) throws -> (Int, String?) {
            let r = try f.call("workplace", "POST", "/v1/exports", body)
            return (r.status, try r.json()["code"] as? String)
        }
        XCTAssertEqual(try problem(["path": "/v1/nothing-here"]).1, "not_exportable")
        XCTAssertEqual(try problem(["path": "/v1/members/\(f.members[0])"]).1, "not_exportable", "one member is not a table")
        XCTAssertEqual(try problem(["path": "/v1/exports"]).1, "not_exportable")
        XCTAssertEqual(try problem(["path": "/healthz"]).0, 422)
        XCTAssertEqual(try problem(["path": "/v1/members?org_id=nope"]).1, "export_request_invalid")
        XCTAssertEqual(try problem(["path": "/v1/reports/assessments?org_id=\(f.orgs["C2"]!)"]).1, "export_request_invalid", "outside the caller's scope")
        XCTAssertEqual(try problem(["path": "/v1/members", "format": "pdf"]).0, 422)
        XCTAssertEqual(try problem([:]).0, 422, "neither path nor source")
        XCTAssertEqual(try problem(["path": "/v1/members", "source": "members"]).0, 422, "both")
        XCTAssertEqual(try problem(["params": ["org_id": f.orgs["W1"]!]]).0, 422, "params without source")
        XCTAssertEqual(try problem(["source": "members", "params": ["org_id": ["x": 1]]]).0, 422, "a nested object is no parameter")
        XCTAssertEqual(try problem(["source": "reports/assessments", "params": ["org_id": f.orgs["C2"]!]]).1, "export_request_invalid")
        XCTAssertEqual(try problem(["path": "/v1/members", "extra": 1]).0, 422)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM exports")!.decode(Int.self, 0), 0, "a refused export leaves nothing")
    }

    func testLimitRevokedTokenAndDeletion() throws {
        let f = try ExchangeFixture(members: 2) { $0.exportWorkers = 0 }
        defer { f.stop() }
        var hrefs: [String] = []
        for _ in 0..<ExportRoutes.maxActivePerAccount {
            let r = try f.call("workplace", "POST", "/v1/exports", ["path": "/v1/members"])
            XCTAssertEqual(r.status, 202)
            hrefs.append(r.headers["location"]!)
        }
        let over = try f.call("workplace", "POST", "/v1/exports", ["path": "/v1/members"])
        XCTAssertEqual(over.status, 429)
        XCTAssertEqual(try over.json()["code"] as? String, "too_many_exports")
        XCTAssertEqual(try f.call("workplace", "GET", hrefs[0] + "/file").status, 409, "not ready yet")

        let runner = try XCTUnwrap(f.t.app.exportRunner)
        XCTAssertTrue(try runner.runOnce())
        XCTAssertEqual(try f.call("workplace", "GET", hrefs[0]).json()["status"] as? String, "done")

        // The export runs with the rights its token has when it runs.
        try f.db.execute("UPDATE tokens SET revoked_at = now() WHERE account_id = (SELECT account_id FROM exports LIMIT 1)")
        XCTAssertTrue(try runner.runOnce())
        let failed = try f.db.queryRow("SELECT status, error->>'code' FROM exports WHERE status <> 'done' ORDER BY created_at LIMIT 1")!
        XCTAssertEqual(try failed.decode(String.self, 0), "failed")
        XCTAssertEqual(try failed.decode(String.self, 1), "token_revoked")

        // Expired files are deleted by the runner.
        try f.db.execute("UPDATE exports SET expires_at = now() - interval '1 second' WHERE status = 'done'")
        _ = try runner.runOnce()
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM exports WHERE status = 'expired'")!.decode(Int.self, 0), 1)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM export_chunks")!.decode(Int.self, 0), 0)
    }

    func testDeleteRemovesTheFile() throws {
        let f = try ExchangeFixture(members: 2)
        defer { f.stop() }
        let href = try f.call("workplace", "POST", "/v1/exports", ["path": "/v1/members"]).headers["location"]!
        let deadline = Date().addingTimeInterval(20)
        while try f.call("workplace", "GET", href).json()["status"] as? String != "done" && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertEqual(try f.call("other_workplace", "DELETE", href).status, 404)
        XCTAssertEqual(try f.call("workplace", "DELETE", href).status, 204)
        XCTAssertEqual(try f.call("workplace", "GET", href).status, 404)
        XCTAssertEqual(try f.db.queryRow("SELECT count(*) FROM export_chunks")!.decode(Int.self, 0), 0)
    }
}

/// An XLSX file read back with Python's zipfile (which checks every CRC) and the sheet XML parsed:
/// the names of the sheets, their rows of cell texts, and the cells stored as numbers.
struct Workbook {
    var names: [String] = []
    var sheets: [[[String]]] = []
    var numbers: [String] = []

    init(_ bytes: [UInt8]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("book.xlsx")
        try Data(bytes).write(to: file)
        let script = """
            import json, re, sys, zipfile, xml.etree.ElementTree as ET
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            names = z.namelist()
            for part in ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"]:
                assert part in names, part
                ET.fromstring(z.read(part))
            ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
            wb = ET.fromstring(z.read("xl/workbook.xml"))
            out = {"names": [s.get("name") for s in wb.find("m:sheets", ns)], "sheets": [], "numbers": []}
            for i in range(1, len(out["names"]) + 1):
                sheet = ET.fromstring(z.read("xl/worksheets/sheet%d.xml" % i))
                rows = []
                for row in sheet.find("m:sheetData", ns):
                    cells = []
                    for c in row:
                        if c.get("t") == "inlineStr":
                            cells.append(c.find("m:is/m:t", ns).text or "")
                        elif c.find("m:v", ns) is not None:
                            out["numbers"].append(c.find("m:v", ns).text)
                            cells.append(c.find("m:v", ns).text)
                        else:
                            cells.append("")
                    rows.append(cells)
                out["sheets"].append(rows)
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, file.path]
        let pipe = Pipe(), errors = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestError("not a valid workbook: " + String(decoding: stderr, as: UTF8.self))
        }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: output) as? [String: Any])
        names = json["names"] as? [String] ?? []
        sheets = json["sheets"] as? [[[String]]] ?? []
        numbers = json["numbers"] as? [String] ?? []
    }
}
