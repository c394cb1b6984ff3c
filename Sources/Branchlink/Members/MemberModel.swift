import Foundation
import Postgres

// `MemberSex` and `MemberExemption` (none, activities = HD 33 §1.1, introduction = §1.2) are
// declared once, beside the import validators that share them (Imports/ImportValidation.swift).

/// Why an organization cannot be a member's workplace.
public enum WorkplaceRefusal: String, Sendable, Equatable {
    /// Not a grassroots organization or one of its branches (central, province, directly
    /// subordinate committee, district, commune).
    case notAWorkplaceKind = "not_a_workplace"
    /// A residence-side organization: a branch under a commune (residential branch), or a grassroots
    /// organization of the commune/ward/special-zone sector. Members there are residential members,
    /// not working members in the sense of Reg. 213 Art. 1 §1.
    case residential = "residential_organization"
    /// Closed (merged or dissolved, `valid_to` set): members move with the merge, none are added.
    case closed = "organization_closed"

    public var message: String {
        switch self {
        case .notAWorkplaceKind: "is not a workplace organization (a grassroots committee or branch, a partial committee or one of their branches)"
        case .residential: "is a residence-side organization, not a workplace"
        case .closed: "is closed"
        }
    }
}

/// The member register's pure rules, table-tested in MembersModelTests.
public enum MemberRules {
    /// Kinds of organization members can work in.
    public static let workplaceKinds: Set<OrgKind> = [.grassrootsCommittee, .grassrootsBranch, .partialCommittee, .branch]
    /// Sectors of residence-side organizations.
    public static let residenceSectors: Set<OrgSector> = [.commune, .ward, .specialZone]

    /// THE workplace rule. A member's workplace is an open organization where party members work
    /// (Reg. 213 Art. 1 §1: agencies, enterprises, public service units, army, police):
    /// - its kind is `grassroots_committee`, `grassroots_branch`, `partial_committee` or `branch`
    ///   (never `central`, `province`, `directly_subordinate`, `district` or `commune`: members are
    ///   registered in the grassroots organization or branch that keeps their roll);
    /// - it is not residence-side: not a branch directly under a commune (a residential branch) and
    ///   not of the `commune`, `ward` or `special_zone` sector;
    /// - it is open (`valid_to` not set).
    /// Returns nil when the organization is a valid workplace.
    public static func workplaceRefusal(kind: String, sector: String, parentKind: String?, closed: Bool) -> WorkplaceRefusal? {
        guard let k = OrgKind(rawValue: kind), workplaceKinds.contains(k) else { return .notAWorkplaceKind }
        if k == .branch && parentKind == OrgKind.commune.rawValue { return .residential }
        if let s = OrgSector(rawValue: sector), residenceSectors.contains(s) { return .residential }
        if closed { return .closed }
        return nil
    }

    /// Names are stored in Unicode NFC (one code point per Vietnamese letter, whatever the client's
    /// keyboard sent) with runs of white space collapsed to one space.
    public static func normalizeName(_ s: String) -> String {
        s.precomposedStringWithCanonicalMapping
            .split(whereSeparator: { $0.isWhitespace })
            .joined(separator: " ")
    }

    public static let cardNumberPattern = "^[0-9A-Za-z.-]{4,20}$"

    /// A `q` that is a party card number (the card's character set, with at least one digit; names
    /// never contain digits) matches exactly on `party_card_number` instead of searching names.
    public static func looksLikeCardNumber(_ q: String) -> Bool {
        q.range(of: cardNumberPattern, options: .regularExpression) != nil && q.contains(where: { $0.isASCII && $0.isNumber })
    }

    /// Minimum letters/digits in a name query: fewer can leave pg_trgm no trigram to look up, and
    /// the search would read the whole index.
    public static let minimumSearchCharacters = 3

    public static let earliestBirthDate = PGDate(year: 1900, month: 1, day: 1)!

    /// Date rules: birth_date from 1900 to today; admitted_on not before birth_date and not in the
    /// future; full_member_on needs admitted_on, is not before it and not in the future.
    public static func dateErrors(birthDate: PGDate?, admittedOn: PGDate?, fullMemberOn: PGDate?, today: PGDate) -> [FieldError] {
        var errors: [FieldError] = []
        if let b = birthDate, b < earliestBirthDate || b > today {
            errors.append(FieldError(pointer: "/birth_date", code: "out_of_range", message: "must be between 1900-01-01 and today"))
        }
        if let a = admittedOn {
            if a > today {
                errors.append(FieldError(pointer: "/admitted_on", code: "out_of_range", message: "must not be in the future"))
            } else if let b = birthDate, a < b {
                errors.append(FieldError(pointer: "/admitted_on", code: "out_of_range", message: "must not be before birth_date"))
            }
        }
        if let f = fullMemberOn {
            if admittedOn == nil {
                errors.append(FieldError(pointer: "/admitted_on", code: "required", message: "is required when full_member_on is set"))
            }
            if f > today {
                errors.append(FieldError(pointer: "/full_member_on", code: "out_of_range", message: "must not be in the future"))
            } else if let a = admittedOn, f < a {
                errors.append(FieldError(pointer: "/full_member_on", code: "out_of_range", message: "must not be before admitted_on"))
            }
        }
        return errors
    }

    /// An exemption needs its HD 33 ground; `none` has none.
    public static func exemptionErrors(exemption: MemberExemption, ground: String?) -> [FieldError] {
        switch (exemption, ground) {
        case (.none, .some):
            [FieldError(pointer: "/exemption_ground", code: "not_allowed", message: "must be null when exemption is none")]
        case (.activities, nil), (.introduction, nil):
            [FieldError(pointer: "/exemption_ground", code: "required", message: "is required when exemption is \(exemption.rawValue)")]
        default:
            []
        }
    }

    /// Today's calendar date in Asia/Ho_Chi_Minh (UTC+7 all year, no daylight saving).
    public static func today() -> PGDate { PGDate.today(in: TimeZone(secondsFromGMT: 7 * 3600)!) }
}

/// The API requires province and commune together; rows imported with a partial residence are
/// shown as they are.
public struct MemberResidence: Sendable, Equatable {
    public var provinceId: UUID?
    public var communeId: UUID?
    public var addressLine: String?

    public init(provinceId: UUID? = nil, communeId: UUID? = nil, addressLine: String? = nil) {
        self.provinceId = provinceId; self.communeId = communeId; self.addressLine = addressLine
    }
}

public struct Member: Encodable, Sendable {
    public var id: UUID
    public var partyCardNumber: String
    public var fullName: String
    public var sex: String
    public var birthDate: PGDate
    public var admittedOn: PGDate?
    public var fullMemberOn: PGDate?
    public var workplaceOrgId: UUID
    public var residence: MemberResidence?
    public var exemption: String
    public var exemptionGround: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var workplacePath: String

    enum CodingKeys: String, CodingKey {
        case id, partyCardNumber, fullName, sex, birthDate, admittedOn, fullMemberOn, workplaceOrgId, residence, exemption,
             exemptionGround, createdAt, updatedAt, version
    }

    enum ResidenceKeys: String, CodingKey { case provinceId, communeId, addressLine }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(partyCardNumber, forKey: .partyCardNumber)
        try c.encode(fullName, forKey: .fullName)
        try c.encode(sex, forKey: .sex)
        try c.encode(birthDate, forKey: .birthDate)
        try c.encode(admittedOn, forKey: .admittedOn)
        try c.encode(fullMemberOn, forKey: .fullMemberOn)
        try c.encode(workplaceOrgId.lower, forKey: .workplaceOrgId)
        if let r = residence {
            var rc = c.nestedContainer(keyedBy: ResidenceKeys.self, forKey: .residence)
            try rc.encode(r.provinceId?.lower, forKey: .provinceId)
            try rc.encode(r.communeId?.lower, forKey: .communeId)
            try rc.encode(r.addressLine, forKey: .addressLine)
        } else {
            try c.encodeNil(forKey: .residence)
        }
        try c.encode(exemption, forKey: .exemption)
        try c.encode(exemptionGround, forKey: .exemptionGround)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    static let columns = """
        m.id, m.party_card_number, m.full_name, m.sex, m.birth_date, m.admitted_on, m.full_member_on, m.workplace_org_id,
        m.residence_province_id, m.residence_commune_id, m.residence_address, m.exemption, m.exemption_ground,
        m.created_at, m.updated_at, m.version, m.workplace_path::text
        """

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        partyCardNumber = try row.decode(String.self, 1)
        fullName = try row.decode(String.self, 2)
        sex = try row.decode(String.self, 3)
        birthDate = try row.decode(PGDate.self, 4)
        admittedOn = try row.decode(PGDate?.self, 5)
        fullMemberOn = try row.decode(PGDate?.self, 6)
        workplaceOrgId = try row.decode(UUID.self, 7)
        let r = MemberResidence(provinceId: try row.decode(UUID?.self, 8), communeId: try row.decode(UUID?.self, 9),
                                addressLine: try row.decode(String?.self, 10))
        residence = r == MemberResidence() ? nil : r
        exemption = try row.decode(String.self, 11)
        exemptionGround = try row.decode(String?.self, 12)
        createdAt = try row.decode(Date.self, 13)
        updatedAt = try row.decode(Date.self, 14)
        version = try row.decode(Int.self, 15)
        workplacePath = try row.decode(String.self, 16)
    }

    /// What `encode(to:)` gives through JSONOutput, written directly (member reads are hot).
    public func encoded() -> [UInt8] {
        var w = JSONBytes(capacity: 640)
        w.raw("{\"id\":"); w.uuid(id)
        w.raw(",\"party_card_number\":"); w.string(partyCardNumber)
        w.raw(",\"full_name\":"); w.string(fullName)
        w.raw(",\"sex\":"); w.string(sex)
        w.raw(",\"birth_date\":"); w.date(birthDate)
        w.raw(",\"admitted_on\":"); w.date(admittedOn)
        w.raw(",\"full_member_on\":"); w.date(fullMemberOn)
        w.raw(",\"workplace_org_id\":"); w.uuid(workplaceOrgId)
        w.raw(",\"residence\":")
        if let r = residence {
            w.raw("{\"province_id\":"); w.uuid(r.provinceId)
            w.raw(",\"commune_id\":"); w.uuid(r.communeId)
            w.raw(",\"address_line\":"); w.string(r.addressLine)
            w.raw("}")
        } else {
            w.null()
        }
        w.raw(",\"exemption\":"); w.string(exemption)
        w.raw(",\"exemption_ground\":"); w.string(exemptionGround)
        w.raw(",\"created_at\":"); w.timestamp(createdAt)
        w.raw(",\"updated_at\":"); w.timestamp(updatedAt)
        w.raw(",\"version\":"); w.int(version)
        w.raw("}")
        return w.bytes
    }
}

extension Member {
    static let csvHeader = ["id", "party_card_number", "full_name", "sex", "birth_date", "admitted_on", "full_member_on", "workplace_org_id",
                            "residence_province_id", "residence_commune_id", "residence_address", "exemption", "exemption_ground",
                            "created_at", "updated_at", "version"]

    var csvRow: [String?] {
        [id.lower, partyCardNumber, fullName, sex, birthDate.description, admittedOn?.description, fullMemberOn?.description,
         workplaceOrgId.lower, residence?.provinceId?.lower, residence?.communeId?.lower, residence?.addressLine, exemption,
         exemptionGround, Timestamp.rfc3339(createdAt), Timestamp.rfc3339(updatedAt), String(version)]
    }
}
