import Branchlink
import Foundation
import Postgres
import XCTest

/// The pure parts of imports, table-tested: the CSV reader and the per-row rules.
final class ImportValidationTests: XCTestCase {
    func records(_ text: String) throws -> [[String]] {
        try records(Array(text.utf8))
    }

    func records(_ bytes: [UInt8]) throws -> [[String]] {
        var reader = CSVReader(bytes)
        var out: [[String]] = []
        while let r = try reader.next() { out.append(r) }
        return out
    }

    func testCSVReader() throws {
        let cases: [(String, [[String]], UInt)] = [
            ("a,b\n1,2\n", [["a", "b"], ["1", "2"]], #line),
            ("a,b\r\n1,2\r\n", [["a", "b"], ["1", "2"]], #line),
            ("a,b\r\n1,2", [["a", "b"], ["1", "2"]], #line),                       // no final line break
            ("\u{FEFF}a,b\n", [["a", "b"]], #line),                                // BOM skipped
            ("a,,c,\n", [["a", "", "c", ""]], #line),                              // empty fields, trailing comma
            ("a,\n", [["a", ""]], #line),
            ("a,", [["a", ""]], #line),
            ("\"x,y\",\"say \"\"hi\"\"\"\n", [["x,y", "say \"hi\""]], #line),      // quoted comma, escaped quotes
            ("\"line1\r\nline2\",z\n", [["line1\nline2", "z"]], #line),            // CRLF inside quotes → LF
            ("\"line1\nline2\"\n", [["line1\nline2"]], #line),
            ("\"\"\n", [[""]], #line),                                            // empty quoted field
            ("a\n\nb\n", [["a"], [""], ["b"]], #line),                             // empty line reported as [""]
            ("ab\"c,d\n", [["ab\"c", "d"]], #line),                                // stray quote kept as text
            ("\"ab\"c,d\n", [["abc", "d"]], #line),                                // text after closing quote kept
            ("Nguyễn Văn Đức,Hà Nội\n", [["Nguyễn Văn Đức", "Hà Nội"]], #line),
            ("a\rb,c\n", [["a\rb", "c"]], #line),                                  // a lone CR is data
            ("", [], #line),
        ]
        for (input, expected, line) in cases {
            XCTAssertEqual(try records(input), expected, "input \(input.debugDescription)", line: line)
        }
    }

    func testCSVReaderUnterminatedQuoteNamesItsLine() throws {
        var reader = CSVReader(Array("a,b\n1,2\n\"open\n3,4\n".utf8))
        XCTAssertEqual(try reader.next(), ["a", "b"])
        XCTAssertEqual(try reader.next(), ["1", "2"])
        XCTAssertThrowsError(try reader.next()) { XCTAssertEqual(($0 as? CSVReader.UnterminatedQuote)?.line, 3) }
    }

    func testUTF8Check() {
        XCTAssertNil(CSVReader.firstInvalidUTF8Line(Array("a,b\nĐặng,c\n".utf8)))
        XCTAssertEqual(CSVReader.firstInvalidUTF8Line(Array("a,b\nok\n".utf8) + [0xFF, 0x0A]), 3)
        XCTAssertEqual(CSVReader.firstInvalidUTF8Line([0xC3]), 1)
    }

    func testFieldRules() {
        typealias F = ImportFieldRules
        func codeOf(_ body: (inout [ImportRowError]) -> Any?) -> (String?, Bool) {
            var e: [ImportRowError] = []
            let v = body(&e)
            return (e.first?.code, v != nil)
        }
        let today = PGDate(year: 2026, month: 11, day: 23)!
        let cases: [(String, (inout [ImportRowError]) -> Any?, String?, UInt)] = [
            ("code ok", { F.code("P01-C1.b_2", "c", required: true, &$0) }, nil, #line),
            ("code trimmed", { F.code("  W1 ", "c", required: true, &$0) }, nil, #line),
            ("code empty required", { F.code("  ", "c", required: true, &$0) }, "required", #line),
            ("code empty optional", { F.code("", "c", required: false, &$0) }, nil, #line),
            ("code bad char", { F.code("W 1", "c", required: true, &$0) }, "format", #line),
            ("code non-ascii", { F.code("Đ1", "c", required: true, &$0) }, "format", #line),
            ("code too long", { F.code(String(repeating: "a", count: 65), "c", required: true, &$0) }, "too_long", #line),
            ("card ok", { F.cardNumber("93.001-234", "c", &$0) }, nil, #line),
            ("card short", { F.cardNumber("123", "c", &$0) }, "format", #line),
            ("card long", { F.cardNumber(String(repeating: "1", count: 21), "c", &$0) }, "format", #line),
            ("card underscore", { F.cardNumber("12_34", "c", &$0) }, "format", #line),
            ("card empty", { F.cardNumber("", "c", &$0) }, "required", #line),
            ("date ok", { F.date("2020-02-29", "d", required: true, &$0) }, nil, #line),
            ("date not leap", { F.date("2021-02-29", "d", required: true, &$0) }, "format", #line),
            ("date other format", { F.date("29/02/2020", "d", required: true, &$0) }, "format", #line),
            ("date short", { F.date("2020-2-9", "d", required: true, &$0) }, "format", #line),
            ("date too early", { F.date("1899-12-31", "d", required: true, &$0) }, "out_of_range", #line),
            ("date year 0", { F.date("0000-01-01", "d", required: true, &$0) }, "out_of_range", #line),
            ("date after latest", { F.date("2026-11-24", "d", required: true, latest: today, &$0) }, "out_of_range", #line),
            ("date today", { F.date("2026-11-23", "d", required: true, latest: today, &$0) }, nil, #line),
            ("text ok", { F.text(" Lê Thị Hoa ", "t", required: true, maxLength: 10, &$0) }, nil, #line),
            ("text limit in characters", { F.text("Ơ" + String(repeating: "ệ", count: 9), "t", required: true, maxLength: 10, &$0) }, nil, #line),
            ("text too long", { F.text(String(repeating: "ệ", count: 11), "t", required: true, maxLength: 10, &$0) }, "too_long", #line),
            ("text control", { F.text("a\u{0}b", "t", required: true, maxLength: 10, &$0) }, "invalid_characters", #line),
            ("text CR", { F.text("a\rb", "t", required: true, maxLength: 10, &$0) }, "invalid_characters", #line),
            ("text LF and tab", { F.text("a\nb\tc", "t", required: true, maxLength: 10, &$0) }, nil, #line),
            ("text blank required", { F.text(" \n ", "t", required: true, maxLength: 10, &$0) }, "required", #line),
            ("enum ok", { F.enumeration("female", "s", MemberSex.self, required: true, &$0) }, nil, #line),
            ("enum case-insensitive", { F.enumeration(" Female ", "s", MemberSex.self, required: true, &$0) }, nil, #line),
            ("enum bad", { F.enumeration("nữ", "s", MemberSex.self, required: true, &$0) }, "invalid_value", #line),
            ("enum excluded", { F.enumeration("central", "k", OrgKind.self, required: true, excluding: ["central"], &$0) }, "invalid_value", #line),
        ]
        for (name, body, expected, line) in cases {
            let (code, hasValue) = codeOf(body)
            XCTAssertEqual(code, expected, name, line: line)
            XCTAssertEqual(hasValue, expected == nil && !name.hasSuffix("optional"), "\(name): value iff valid", line: line)
        }
        // NFD is composed; the stored text is the trimmed, composed text.
        var e: [ImportRowError] = []
        XCTAssertEqual(F.text("  Nguye\u{0302}\u{0303}n ", "t", required: true, maxLength: 10, &e).map { Array($0.unicodeScalars) },
                       Array("Nguy\u{1EC5}n".unicodeScalars))
    }

    /// The fast path of name normalization gives exactly what the API's `MemberRules.normalizeName` gives.
    func testNormalizedNameMatchesTheAPIRule() {
        let samples = ["Nguyễn Văn An", "Đặng Thị Út", "Lò Văn Pó", "Hoàng  Thị Hoa", " Lê Lợi", "Lê Lợi ", "Lê\tLợi", "Lê\nLợi",
                       "Nguye\u{0302}\u{0303}n Thi\u{0323}", "A\u{00A0}B", "Ohm \u{2126}", "Å\u{030A}", "Ưng Ơn", "", "O'Brien-Smith",
                       "Bùi Thị Xuân\u{3000}Hương"]
        for s in samples {
            XCTAssertEqual(Array(ImportFieldRules.normalizedName(s).unicodeScalars), Array(MemberRules.normalizeName(s).unicodeScalars),
                           s.debugDescription)
        }
        // Every scalar the fast path keeps as it is is NFC on its own.
        for v in Array(0x21..<0x7F) + Array(0xA1..<0x0300) + Array(0x1E00...0x1EFF) {
            let s = String(Character(Unicode.Scalar(UInt32(v))!))
            XCTAssertEqual(Array(s.precomposedStringWithCanonicalMapping.unicodeScalars), Array(s.unicodeScalars), "U+\(String(v, radix: 16))")
        }
    }

    func testParseDate() {
        let cases: [(String, PGDate?)] = [
            ("2024-02-29", PGDate(year: 2024, month: 2, day: 29)), ("2023-02-29", nil), ("2024-13-01", nil), ("2024-00-10", nil),
            ("2024-1-01", nil), ("2024/01/01", nil), ("+024-01-01", nil), ("２０２４-01-01", nil), ("20240101", nil), ("", nil),
            ("1900-01-01", PGDate(year: 1900, month: 1, day: 1)),
        ]
        for (s, expected) in cases { XCTAssertEqual(ImportFieldRules.parseDate(s), expected, s) }
    }

    func member(_ overrides: [MemberColumn: String], absent: Set<MemberColumn> = [],
                residenceSide: Bool = false) -> (MemberImportRow, [String]) {
        var values: [MemberColumn: String] = [
            .partyCardNumber: "93001234", .fullName: "Trần Thị Bình", .sex: "female", .birthDate: "1980-01-02",
            .admittedOn: "2005-03-04", .fullMemberOn: "2006-03-04", .workplaceCode: "W1", .residenceProvinceCode: "P1",
            .residenceCommuneCode: "C1", .residenceAddress: "Số 3", .exemption: "", .exemptionGround: "",
        ]
        for (k, v) in overrides { values[k] = v }
        let (row, errors) = MemberRowValidator.validate({ absent.contains($0) ? nil : values[$0] },
                                                        today: PGDate(year: 2026, month: 11, day: 23)!, residenceSide: residenceSide)
        return (row, errors.map { "\($0.column ?? "-"):\($0.code)" })
    }

    func testMemberRowRules() {
        let cases: [([MemberColumn: String], Set<MemberColumn>, [String], UInt)] = [
            ([:], [], [], #line),
            ([:], [.admittedOn, .fullMemberOn, .residenceProvinceCode, .residenceCommuneCode, .residenceAddress, .exemption, .exemptionGround],
             [], #line),
            ([.sex: "x"], [], ["sex:invalid_value"], #line),
            ([.birthDate: "2027-01-01"], [], ["birth_date:out_of_range", "admitted_on:out_of_range"], #line),  // admitted before birth too
            ([.admittedOn: "1979-12-31"], [], ["admitted_on:out_of_range"], #line),
            ([.fullMemberOn: "2005-03-03"], [], ["full_member_on:out_of_range"], #line),
            ([.admittedOn: "", .fullMemberOn: "1990-01-01"], [], ["admitted_on:required"], #line),  // full membership needs admission
            ([.admittedOn: "", .fullMemberOn: ""], [], [], #line),
            ([.admittedOn: "2027-01-01", .fullMemberOn: ""], [], ["admitted_on:out_of_range"], #line),
            ([.admittedOn: "2005-02-30"], [], ["admitted_on:format"], #line),                      // reported once, not also "required"
            ([.birthDate: "1899-12-31"], [], ["birth_date:out_of_range"], #line),
            ([.exemptionGround: "Có lý do"], [], ["exemption_ground:not_allowed"], #line),         // ground without exemption
            ([.exemption: "none", .exemptionGround: "Có lý do"], [], ["exemption_ground:not_allowed"], #line),
            ([.residenceProvinceCode: ""], [], ["residence_province_code:required"], #line),
            ([.residenceProvinceCode: "", .residenceCommuneCode: ""], [], [], #line),
            ([.residenceCommuneCode: ""], [], ["residence_commune_code:required"], #line),         // both or neither
            ([.exemption: "introduction"], [], ["exemption_ground:required"], #line),
            ([.exemption: "introduction", .exemptionGround: "Công tác đặc thù"], [], [], #line),
            ([.exemption: "all"], [], ["exemption:invalid_value"], #line),
            ([.workplaceCode: ""], [], ["workplace_code:required"], #line),
            ([.partyCardNumber: "", .fullName: "", .sex: "", .birthDate: ""], [],
             ["party_card_number:required", "full_name:required", "sex:required", "birth_date:required"], #line),
        ]
        for (overrides, absent, expected, line) in cases {
            XCTAssertEqual(member(overrides, absent: absent).1, expected, "\(overrides)", line: line)
        }
        // Names are normalized as the API normalizes them (NFC, white space runs collapsed).
        XCTAssertEqual(member([.fullName: " Nguye\u{0302}\u{0303}n   Văn\tAn "]).0.fullName, "Nguyễn Văn An")
        // A residence-side account may not register members exempt from introduction.
        let exempt: [MemberColumn: String] = [.exemption: "introduction", .exemptionGround: "HD 33 §1.2"]
        XCTAssertEqual(member(exempt, residenceSide: true).1, ["exemption:not_allowed"])
        XCTAssertEqual(member(exempt, residenceSide: false).1, [])
        let (row, _) = member([:], absent: [.exemption])
        XCTAssertEqual(row.exemption, MemberExemption.none)
        XCTAssertEqual(row.birthDate, PGDate(year: 1980, month: 1, day: 2))
        XCTAssertEqual(row.residenceCommuneCode, "C1")
        // An invalid field is nil in the row (so staging holds NULL for it).
        let (bad, _) = member([.birthDate: "1980-02-31"])
        XCTAssertNil(bad.birthDate)
        XCTAssertEqual(bad.partyCardNumber, "93001234")
    }

    func testOrganizationRowRules() {
        func check(_ v: [OrganizationColumn: String]) -> [String] {
            var values: [OrganizationColumn: String] = [.code: "P1-C1", .name: "Xã Một", .kind: "commune", .sector: "commune",
                                                        .parentCode: "P1", .validFrom: ""]
            for (k, x) in v { values[k] = x }
            return OrganizationRowValidator.validate { values[$0] }.1.map { "\($0.column ?? "-"):\($0.code)" }
        }
        let cases: [([OrganizationColumn: String], [String], UInt)] = [
            ([:], [], #line),
            ([.kind: "central", .sector: "central"], ["kind:invalid_value"], #line),
            ([.kind: "ward"], ["kind:invalid_value"], #line),
            ([.sector: "agency"], ["sector:invalid_value"], #line),              // a commune is commune, ward or special zone
            ([.kind: "branch", .sector: "province"], ["sector:invalid_value"], #line),
            ([.kind: "branch", .sector: "other"], [], #line),
            ([.kind: "province", .sector: "province"], [], #line),
            ([.validFrom: "2025-07-01"], [], #line),
            ([.validFrom: "1.7.2025"], ["valid_from:format"], #line),
            ([.parentCode: ""], ["parent_code:required"], #line),
            ([.name: String(repeating: "x", count: 301)], ["name:too_long"], #line),
            ([.code: "P1 C1"], ["code:format"], #line),
        ]
        for (overrides, expected, line) in cases {
            XCTAssertEqual(check(overrides), expected, "\(overrides)", line: line)
        }
    }

    func testReportJSON() throws {
        let report = ImportReport(kind: .members, rows: 3,
                                  failures: [2: [ImportRowError(column: "sex", code: "invalid_value", message: "must be \"male\""),
                                                 ImportRowError(column: nil, code: "column_count", message: "x")]],
                                  dryRun: true, atomic: false, written: 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any])
        XCTAssertEqual(json["rows"] as? Int, 3)
        XCTAssertEqual(json["ok"] as? Int, 2)
        XCTAssertEqual(json["failed"] as? Int, 1)
        XCTAssertEqual(json["dry_run"] as? Bool, true)
        let results = try XCTUnwrap(json["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["row"] as? Int }, [1, 2, 3])
        XCTAssertEqual(results.map { $0["ok"] as? Bool }, [true, false, true])
        let errors = try XCTUnwrap(results[1]["errors"] as? [[String: Any]])
        XCTAssertEqual(errors[0]["message"] as? String, "must be \"male\"")
        XCTAssertTrue(errors[1]["column"] is NSNull)
        XCTAssertFalse(report.rejected)
    }
}
