import Branchlink
import Foundation
import XCTest

/// The printable introduction letter: Vietnamese A4 HTML with the fields of domain.md §3.1, and
/// the same page as PDF.
final class LetterTests: XCTestCase {
    func testLetterHTMLFillsTheReceiptOnceAssignedAndRendersPDF() throws {
        let f = try ExchangeFixture(members: 1)
        defer { f.stop() }
        let activities = try f.addMember(7, exemption: "activities")
        let id = try XCTUnwrap(try f.call("workplace", "POST", "/v1/introductions", ["member_id": activities, "commune_id": f.orgs["C1"]!]).json()["id"] as? String)

        let draft = try f.call("commune", "GET", "/v1/introductions/\(id)/letter")
        XCTAssertEqual(draft.status, 200)
        XCTAssertEqual(draft.headers["content-type"], "text/html; charset=utf-8")
        for text in ["GIẤY GIỚI THIỆU", "Kính gửi", "Đảng ủy Tổ chức C1", "Quy định số 213-QĐ/TW", "Nguyễn Thị Hòa 7", "Sinh ngày: 17/05/1980",
                     "miễn sinh hoạt nơi cư trú", "T/M Đảng ủy", "Tiếp nhận ngày …/…/……", "-GGT/ĐU"] {
            XCTAssertTrue(draft.text.contains(text), "letter lacks \(text)")
        }

        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/receive", [:]).status, 200)
        XCTAssertEqual(try f.call("commune", "POST", "/v1/introductions/\(id)/assign", ["branch_id": f.orgs["B1"]!]).status, 200)
        let filled = try f.call("workplace", "GET", "/v1/introductions/\(id)/letter").text
        XCTAssertFalse(filled.contains("Tiếp nhận ngày …/…/……"))
        XCTAssertTrue(filled.contains("Đã giới thiệu về sinh hoạt tại chi bộ: <span class=\"bold\">Tổ chức B1</span>"))
        XCTAssertEqual(try f.call("other_commune", "GET", "/v1/introductions/\(id)/letter").status, 404)
        XCTAssertEqual(try f.call("workplace", "GET", "/v1/introductions/\(id)/letter", headers: ["Accept": "image/png"]).status, 406)

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw XCTSkip("chromium is not installed: PDF output answers 503 pdf_unavailable (checked below)")
        }
        let pdf = try f.call("workplace", "GET", "/v1/introductions/\(id)/letter", headers: ["Accept": "application/pdf"])
        XCTAssertEqual(pdf.status, 200, pdf.text)
        XCTAssertEqual(pdf.headers["content-type"], "application/pdf")
        XCTAssertTrue(pdf.body.starts(with: Array("%PDF-".utf8)))
        XCTAssertGreaterThan(pdf.body.count, 5_000)
    }
}
