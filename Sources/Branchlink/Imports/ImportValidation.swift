import Foundation
import Postgres

/// One problem of one CSV row: the column it is about (nil for the row as a whole), a stable code
/// and an English message. Messages never quote the value (it may be personal data).
public struct ImportRowError: Sendable, Equatable, CustomStringConvertible {
    public var column: String?
    public var code: String
    public var message: String

    public init(column: String?, code: String, message: String) {
        self.column = column; self.code = code; self.message = message
    }

    public var description: String { "\(column ?? "(row)") \(code): \(message)" }
}

/// A column of an import file: its header name, and whether the header must have it.
public protocol ImportColumn: RawRepresentable, CaseIterable, Hashable, Sendable where RawValue == String {
    var isRequired: Bool { get }
}

public enum MemberColumn: String, ImportColumn {
    case partyCardNumber = "party_card_number", fullName = "full_name", sex, birthDate = "birth_date"
    case admittedOn = "admitted_on", fullMemberOn = "full_member_on", workplaceCode = "workplace_code"
    case residenceProvinceCode = "residence_province_code", residenceCommuneCode = "residence_commune_code"
    case residenceAddress = "residence_address", exemption, exemptionGround = "exemption_ground"

    public var isRequired: Bool {
        switch self {
        case .partyCardNumber, .fullName, .sex, .birthDate, .workplaceCode: true
        default: false
        }
    }
}

public enum OrganizationColumn: String, ImportColumn {
    case code, name, kind, sector, parentCode = "parent_code", validFrom = "valid_from"

    public var isRequired: Bool { self != .validFrom }
}

public enum MemberSex: String, CaseIterable, Sendable { case male, female }

/// HD 33 §1.1 (`activities`: introduced, assessed on demand only) and §1.2 (`introduction`: never
/// introduced, invisible to the residence side).
public enum MemberExemption: String, CaseIterable, Sendable { case none, activities, introduction }

/// Pure field rules shared by the import validators: the same limits as the database constraints
/// of migrations/0002 and the JSON API (`JSONInput`), with the same error codes
/// (`required`, `too_long`, `format`, `invalid_value`, `invalid_characters`, `out_of_range`).
public enum ImportFieldRules {
    /// Earliest and latest date any import field accepts (PostgreSQL has no year 0; a typo like
    /// 0195 or 9185 is caught here rather than stored).
    public static let earliestDate = PGDate(year: 1900, month: 1, day: 1)!
    public static let latestDate = PGDate(year: 2999, month: 12, day: 31)!

    /// Trims Unicode white space (including line breaks) at both ends.
    public static func trim(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return s }
        if !first.properties.isWhitespace && !last.properties.isWhitespace { return s }
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end && scalars[start].properties.isWhitespace { start = scalars.index(after: start) }
        while end > start && scalars[scalars.index(before: end)].properties.isWhitespace { end = scalars.index(before: end) }
        return String(scalars[start..<end])
    }

    /// `MemberRules.normalizeName` (NFC, white space runs collapsed to one space), without its cost
    /// for the usual name: one already made of precomposed letters and single spaces is returned as
    /// it is (table-tested against `MemberRules.normalizeName`).
    public static func normalizedName(_ s: String) -> String {
        var previousSpace = true  // no leading space
        for u in s.unicodeScalars {
            let v = u.value
            if v == 0x20 {
                if previousSpace { return MemberRules.normalizeName(s) }
                previousSpace = true
                continue
            }
            previousSpace = false
            guard isComposedLetter(v) else { return MemberRules.normalizeName(s) }
        }
        return previousSpace && !s.isEmpty ? MemberRules.normalizeName(s) : s
    }

    /// Scalars that are printable, NFC as they stand and never compose with a neighbour: Basic
    /// Latin to the spacing modifiers (below the combining diacritics at U+0300), and the
    /// precomposed Vietnamese letters of Latin Extended Additional. A string of only these is NFC.
    @inline(__always)
    static func isComposedLetter(_ v: UInt32) -> Bool {
        (v > 0x20 && v < 0x7F) || (v >= 0xA1 && v < 0x0300) || (v >= 0x1E00 && v <= 0x1EFF)
    }

    /// Canonical composition (NFC) when the text carries combining marks (NFD input from some
    /// systems), so "Nguyễn" is stored one way.
    public static func composed(_ s: String) -> String {
        s.unicodeScalars.contains { (0x0300...0x036F).contains($0.value) } ? s.precomposedStringWithCanonicalMapping : s
    }

    /// A free text field: trimmed, normalized (default: NFC), at most `maxLength` characters (code points, as PostgreSQL
    /// counts), no control characters other than line feed and tab.
    public static func text(_ raw: String?, _ column: String, required: Bool, maxLength: Int,
                            normalize: (String) -> String = composed, _ errors: inout [ImportRowError]) -> String? {
        let s = raw.map(trim) ?? ""
        if s.isEmpty {
            if required { errors.append(.init(column: column, code: "required", message: "is required")) }
            return nil
        }
        let value = normalize(s)
        if value.unicodeScalars.count > maxLength {
            errors.append(.init(column: column, code: "too_long", message: "must be at most \(maxLength) characters"))
            return nil
        }
        if value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F }) {
            errors.append(.init(column: column, code: "invalid_characters", message: "must not contain control characters"))
            return nil
        }
        return value
    }

    /// An organization code (`^[A-Za-z0-9._-]{1,64}$`, as the organizations table requires).
    public static func code(_ raw: String?, _ column: String, required: Bool, _ errors: inout [ImportRowError]) -> String? {
        let s = raw.map(trim) ?? ""
        if s.isEmpty {
            if required { errors.append(.init(column: column, code: "required", message: "is required")) }
            return nil
        }
        if s.utf8.count > 64 {
            errors.append(.init(column: column, code: "too_long", message: "must be at most 64 characters"))
            return nil
        }
        guard s.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else {
            errors.append(.init(column: column, code: "format", message: "must be letters, digits, '.', '_' or '-'"))
            return nil
        }
        return s
    }

    /// A party card number (`^[0-9A-Za-z.-]{4,20}$`, as the members table requires).
    public static func cardNumber(_ raw: String?, _ column: String, _ errors: inout [ImportRowError]) -> String? {
        let s = raw.map(trim) ?? ""
        if s.isEmpty {
            errors.append(.init(column: column, code: "required", message: "is required"))
            return nil
        }
        let u = s.utf8
        guard (4...20).contains(u.count), u.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            errors.append(.init(column: column, code: "format", message: "must be 4 to 20 letters, digits, '.' or '-'"))
            return nil
        }
        return s
    }

    /// A calendar date `YYYY-MM-DD` between 1900-01-01 and `latest` (default 2999-12-31).
    public static func date(_ raw: String?, _ column: String, required: Bool, latest: PGDate = latestDate,
                            latestMessage: String = "must not be after 2999-12-31", _ errors: inout [ImportRowError]) -> PGDate? {
        let s = raw.map(trim) ?? ""
        if s.isEmpty {
            if required { errors.append(.init(column: column, code: "required", message: "is required")) }
            return nil
        }
        guard let d = parseDate(s) else {
            errors.append(.init(column: column, code: "format", message: "must be a date YYYY-MM-DD"))
            return nil
        }
        if d < earliestDate {
            errors.append(.init(column: column, code: "out_of_range", message: "must not be before 1900-01-01"))
            return nil
        }
        if latest < d {
            errors.append(.init(column: column, code: "out_of_range", message: latestMessage))
            return nil
        }
        return d
    }

    /// Exactly `YYYY-MM-DD` (ASCII digits) naming a real calendar date.
    public static func parseDate(_ s: String) -> PGDate? {
        var s = s
        return s.withUTF8 { b -> PGDate? in
            guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
            func digits(_ from: Int, _ to: Int) -> Int? {
                var n = 0
                for j in from..<to {
                    let d = Int(b[j]) - 0x30
                    guard d >= 0 && d <= 9 else { return nil }
                    n = n * 10 + d
                }
                return n
            }
            guard let y = digits(0, 4), let m = digits(5, 7), let d = digits(8, 10) else { return nil }
            return PGDate(year: y, month: m, day: d)
        }
    }

    /// One of an enumeration's values (compared case-insensitively: spreadsheets capitalize).
    public static func enumeration<E: RawRepresentable & CaseIterable>(
        _ raw: String?, _ column: String, _ type: E.Type, required: Bool, excluding: Set<String> = [],
        _ errors: inout [ImportRowError]
    ) -> E? where E.RawValue == String {
        let s = raw.map(trim) ?? ""
        if s.isEmpty {
            if required { errors.append(.init(column: column, code: "required", message: "is required")) }
            return nil
        }
        guard let e = E(rawValue: s) ?? E(rawValue: s.lowercased()), !excluding.contains(e.rawValue) else {
            let allowed = E.allCases.map(\.rawValue).filter { !excluding.contains($0) }
            errors.append(.init(column: column, code: "invalid_value", message: "must be one of: " + allowed.joined(separator: ", ")))
            return nil
        }
        return e
    }

    @inline(__always)
    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
}

/// A member row as far as it is valid: invalid or absent fields are nil.
public struct MemberImportRow: Sendable, Equatable {
    public var partyCardNumber: String?
    public var fullName: String?
    public var sex: MemberSex?
    public var birthDate: PGDate?
    public var admittedOn: PGDate?
    public var fullMemberOn: PGDate?
    public var workplaceCode: String?
    public var residenceProvinceCode: String?
    public var residenceCommuneCode: String?
    public var residenceAddress: String?
    public var exemption: MemberExemption?
    public var exemptionGround: String?

    /// The row's fields for the staging table (see `MemberImport.stagingColumns`).
    var stagingFields: [String?] {
        [partyCardNumber, fullName, sex?.rawValue, birthDate?.iso8601, admittedOn?.iso8601, fullMemberOn?.iso8601, workplaceCode,
         residenceProvinceCode, residenceCommuneCode, residenceAddress, exemption?.rawValue, exemptionGround]
    }
}

/// The per-row rules of a member import (everything that needs no database): the JSON API's rules
/// (`MemberRules` of the Members area: names normalized, dates, exemption and its ground) on CSV
/// text, with the column as the error's `column`.
public enum MemberRowValidator {
    /// `value(column)` is the raw field, nil when the header has no such column. `today` is the
    /// service's calendar date (Asia/Ho_Chi_Minh): no birth, admission or full membership after it.
    /// `residenceSide`: the importer is a commune or residential branch account, which may not
    /// register members exempt from introduction (they must stay invisible to it).
    public static func validate(_ value: (MemberColumn) -> String?, today: PGDate,
                                residenceSide: Bool = false) -> (MemberImportRow, [ImportRowError]) {
        typealias F = ImportFieldRules
        var e: [ImportRowError] = []
        var r = MemberImportRow()
        func absorb(_ errors: [FieldError]) {
            e += errors.map { ImportRowError(column: String($0.pointer.dropFirst()), code: $0.code, message: $0.message) }
        }
        r.partyCardNumber = F.cardNumber(value(.partyCardNumber), "party_card_number", &e)
        r.fullName = F.text(value(.fullName), "full_name", required: true, maxLength: 200, normalize: F.normalizedName, &e)
        r.sex = F.enumeration(value(.sex), "sex", MemberSex.self, required: true, &e)
        r.birthDate = F.date(value(.birthDate), "birth_date", required: true, &e)
        r.admittedOn = F.date(value(.admittedOn), "admitted_on", required: false, &e)
        r.fullMemberOn = F.date(value(.fullMemberOn), "full_member_on", required: false, &e)
        // The API's date rules on the dates that parsed (a column already in error is not reported twice).
        let unparsed = Set(e.compactMap(\.column))
        absorb(MemberRules.dateErrors(birthDate: r.birthDate, admittedOn: r.admittedOn, fullMemberOn: r.fullMemberOn, today: today)
            .filter { !unparsed.contains(String($0.pointer.dropFirst())) })
        r.workplaceCode = F.code(value(.workplaceCode), "workplace_code", required: true, &e)
        // Province and commune together or not at all, as the API requires.
        let provinceGiven = !(value(.residenceProvinceCode).map(F.trim) ?? "").isEmpty
        let communeGiven = !(value(.residenceCommuneCode).map(F.trim) ?? "").isEmpty
        if communeGiven && !provinceGiven {
            e.append(.init(column: "residence_province_code", code: "required", message: "is required when residence_commune_code is given"))
        }
        r.residenceProvinceCode = F.code(value(.residenceProvinceCode), "residence_province_code", required: false, &e)
        if provinceGiven && !communeGiven {
            e.append(.init(column: "residence_commune_code", code: "required", message: "is required when residence_province_code is given"))
        }
        r.residenceCommuneCode = F.code(value(.residenceCommuneCode), "residence_commune_code", required: false, &e)
        r.residenceAddress = F.text(value(.residenceAddress), "residence_address", required: false, maxLength: 500, &e)
        let errorsBefore = e.count
        r.exemption = F.enumeration(value(.exemption), "exemption", MemberExemption.self, required: false, &e) ?? (e.count == errorsBefore ? MemberExemption.none : nil)
        r.exemptionGround = F.text(value(.exemptionGround), "exemption_ground", required: false, maxLength: 500, &e)
        if let exemption = r.exemption, e.count == errorsBefore {
            absorb(MemberRules.exemptionErrors(exemption: exemption, ground: r.exemptionGround))
            if residenceSide && exemption == .introduction {
                e.append(.init(column: "exemption", code: "not_allowed",
                               message: "cannot be introduction for an account of a residence-side organization"))
            }
        }
        return (r, e)
    }
}

/// An organization row as far as it is valid.
public struct OrganizationImportRow: Sendable, Equatable {
    public var code: String?
    public var name: String?
    public var kind: OrgKind?
    public var sector: OrgSector?
    public var parentCode: String?
    public var validFrom: PGDate?
}

/// The per-row rules of an organization import (everything that needs no database). Placement
/// under the parent (`OrgKind.allowedParents`) is checked in SQL once parents are resolved.
public enum OrganizationRowValidator {
    public static func validate(_ value: (OrganizationColumn) -> String?) -> (OrganizationImportRow, [ImportRowError]) {
        typealias F = ImportFieldRules
        var e: [ImportRowError] = []
        var r = OrganizationImportRow()
        r.code = F.code(value(.code), "code", required: true, &e)
        r.name = F.text(value(.name), "name", required: true, maxLength: 300, &e)
        // The root (central) exists once and is never imported.
        r.kind = F.enumeration(value(.kind), "kind", OrgKind.self, required: true, excluding: [OrgKind.central.rawValue], &e)
        r.sector = F.enumeration(value(.sector), "sector", OrgSector.self, required: true, &e)
        if let k = r.kind, let s = r.sector, !k.allowedSectors.contains(s) {
            e.append(.init(column: "sector", code: "invalid_value", message: "does not fit kind \(k.rawValue)"))
            r.sector = nil
        }
        r.parentCode = F.code(value(.parentCode), "parent_code", required: true, &e)
        r.validFrom = F.date(value(.validFrom), "valid_from", required: false, &e)
        return (r, e)
    }
}
