import Branchlink
import Foundation
import Postgres
import XCTest

/// The member register's pure rules, from tables.
final class MembersModelTests: XCTestCase {
    /// Every organization kind, in the sectors and under the parents that matter, open and closed.
    func testWorkplaceRuleTable() {
        typealias R = WorkplaceRefusal
        let rows: [(kind: String, sector: String, parent: String?, closed: Bool, expected: R?)] = [
            ("central", "central", nil, false, .notAWorkplaceKind),
            ("province", "province", "central", false, .notAWorkplaceKind),
            ("directly_subordinate", "agency", "province", false, .notAWorkplaceKind),
            ("district", "other", "province", false, .notAWorkplaceKind),
            ("commune", "commune", "province", false, .notAWorkplaceKind),
            ("commune", "ward", "province", false, .notAWorkplaceKind),
            ("grassroots_committee", "agency", "province", false, nil),
            ("grassroots_committee", "enterprise_state", "directly_subordinate", false, nil),
            ("grassroots_committee", "army", "province", false, nil),
            ("grassroots_committee", "police", "province", false, nil),
            ("grassroots_committee", "enterprise_private", "commune", false, nil),   // an enterprise under a commune
            ("grassroots_committee", "public_service", "province", true, .closed),
            ("grassroots_committee", "commune", "province", false, .residential),
            ("grassroots_committee", "ward", "commune", false, .residential),
            ("grassroots_committee", "special_zone", "province", false, .residential),
            ("grassroots_branch", "enterprise_fdi", "province", false, nil),
            ("grassroots_branch", "ward", "commune", false, .residential),
            ("grassroots_branch", "other", "district", true, .closed),
            ("partial_committee", "agency", "grassroots_committee", false, nil),
            ("branch", "agency", "grassroots_committee", false, nil),
            ("branch", "enterprise_jsc", "partial_committee", false, nil),
            ("branch", "other", "commune", false, .residential),                     // residential branch
            ("branch", "other", "commune", true, .residential),
            ("branch", "ward", "grassroots_committee", false, .residential),
            ("branch", "agency", "grassroots_committee", true, .closed),
            ("no_such_kind", "agency", "province", false, .notAWorkplaceKind),
        ]
        for r in rows {
            XCTAssertEqual(MemberRules.workplaceRefusal(kind: r.kind, sector: r.sector, parentKind: r.parent, closed: r.closed), r.expected,
                           "\(r.kind)/\(r.sector) under \(r.parent ?? "-") closed=\(r.closed)")
        }
        // Every kind is decided: exactly the four grassroots kinds can be workplaces.
        for kind in OrgKind.allCases {
            let ok = MemberRules.workplaceRefusal(kind: kind.rawValue, sector: "agency", parentKind: "grassroots_committee", closed: false) == nil
            XCTAssertEqual(ok, [.grassrootsCommittee, .grassrootsBranch, .partialCommittee, .branch].contains(kind), kind.rawValue)
        }
    }

    func testDateRules() {
        let today = PGDate("2026-11-23")!
        func d(_ s: String) -> PGDate { PGDate(s)! }
        func codes(_ b: String?, _ a: String?, _ f: String?) -> [String] {
            MemberRules.dateErrors(birthDate: b.map(d), admittedOn: a.map(d), fullMemberOn: f.map(d), today: today).map { "\($0.pointer) \($0.code)" }
        }
        XCTAssertEqual(codes("1980-01-01", "2005-01-01", "2006-01-01"), [])
        XCTAssertEqual(codes("1980-01-01", nil, nil), [])
        XCTAssertEqual(codes("1900-01-01", "1980-01-01", "1980-01-01"), [])
        XCTAssertEqual(codes("2026-11-23", "2026-11-23", "2026-11-23"), [])
        XCTAssertEqual(codes("1899-12-31", nil, nil), ["/birth_date out_of_range"])
        XCTAssertEqual(codes("2026-11-24", nil, nil), ["/birth_date out_of_range"])
        XCTAssertEqual(codes("1980-01-01", "1979-12-31", nil), ["/admitted_on out_of_range"])
        XCTAssertEqual(codes("1980-01-01", "2026-11-24", nil), ["/admitted_on out_of_range"])
        XCTAssertEqual(codes("1980-01-01", "2005-01-01", "2004-12-31"), ["/full_member_on out_of_range"])
        XCTAssertEqual(codes("1980-01-01", "2005-01-01", "2026-11-24"), ["/full_member_on out_of_range"])
        XCTAssertEqual(codes("1980-01-01", nil, "2006-01-01"), ["/admitted_on required"])
    }

    func testExemptionRules() {
        func codes(_ e: MemberExemption, _ g: String?) -> [String] {
            MemberRules.exemptionErrors(exemption: e, ground: g).map { "\($0.pointer) \($0.code)" }
        }
        XCTAssertEqual(codes(.none, nil), [])
        XCTAssertEqual(codes(.none, "x"), ["/exemption_ground not_allowed"])
        XCTAssertEqual(codes(.activities, "HD 33 §1.1 (1)"), [])
        XCTAssertEqual(codes(.activities, nil), ["/exemption_ground required"])
        XCTAssertEqual(codes(.introduction, "HD 33 §1.2"), [])
        XCTAssertEqual(codes(.introduction, nil), ["/exemption_ground required"])
    }

    func testNamesAreNFCWithCollapsedSpaces() {
        let nfd = "Nguye\u{0302}\u{0303}n  Va\u{0306}n\tĐu\u{031B}\u{0301}c "
        let n = MemberRules.normalizeName(nfd)
        XCTAssertEqual(n, "Nguyễn Văn Đức")
        XCTAssertEqual(Array(n.unicodeScalars), Array("Nguy\u{1EC5}n V\u{0103}n \u{0110}\u{1EE9}c".unicodeScalars))
    }

    func testQueryKinds() throws {
        XCTAssertEqual(try MemberSearch.parse("  nguyen   van duc "), .name("nguyen van duc"))
        XCTAssertEqual(try MemberSearch.parse("Nguye\u{0302}\u{0303}n"), .name("Nguyễn"))
        XCTAssertEqual(try MemberSearch.parse("01234567"), .card("01234567"))
        XCTAssertEqual(try MemberSearch.parse("70.123456"), .card("70.123456"))
        XCTAssertEqual(try MemberSearch.parse("AB-1234"), .card("AB-1234"))
        XCTAssertEqual(try MemberSearch.parse("Hùng"), .name("Hùng"))
        XCTAssertEqual(try MemberSearch.parse("le an"), .name("le an"))
        XCTAssertNil(try MemberSearch.parse("   "))
        for short in ["an", "Đ", "a b", "%%%", "__"] {
            XCTAssertThrowsError(try MemberSearch.parse(short), short) { XCTAssertEqual(($0 as? APIError)?.code, "invalid_parameter") }
        }
        XCTAssertThrowsError(try MemberSearch.parse(String(repeating: "a", count: 101)))
    }

    func testCursorValidation() throws {
        let plain = MemberListQuery(scopePath: "a", visibilitySQL: "TRUE")
        let ranked = MemberListQuery(scopePath: "a", visibilitySQL: "TRUE", search: .name("nguyen"))
        let ts = "2026-11-23T01:02:03.123456Z", id = UUID().lower
        XCTAssertNoThrow(try plain.sql(after: [ts, id], limit: 5))
        XCTAssertNoThrow(try ranked.sql(after: ["-1.25", "nguyễn an", ts, id], limit: 5))
        for bad in [[ts], ["x", id], [ts, "not-a-uuid"], ["-1.25", ts, id]] {
            XCTAssertThrowsError(try plain.sql(after: bad, limit: 5)) { XCTAssertEqual(($0 as? APIError)?.code, "invalid_cursor") }
        }
        for bad in [[ts, id], ["-1.25", ts, id], ["nan", "f", ts, id], ["x", "f", ts, id], ["1", "f", "x", id], ["1", "f", ts, "x"]] {
            XCTAssertThrowsError(try ranked.sql(after: bad, limit: 5)) { XCTAssertEqual(($0 as? APIError)?.code, "invalid_cursor") }
        }
        XCTAssertTrue(try ranked.sql(after: nil, limit: 5).sql.contains("ORDER BY f.score, f.form, m.created_at, m.id"))
        XCTAssertTrue(try plain.sql(after: nil, limit: 5).sql.contains("ORDER BY m.created_at, m.id"))
    }
}
