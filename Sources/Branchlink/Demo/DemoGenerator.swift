import Foundation
import Postgres

/// One organization of a generated province, in the columns the loader writes.
public struct DemoOrganization: Sendable {
    public let id: UUID
    public let parentID: UUID
    /// ltree path: the parent's path followed by `org_label(id)`.
    public let path: String
    public let kind: String
    public let sector: String
    public let code: String
    public let name: String
}

/// One generated party member.
public struct DemoMember: Sendable {
    public let id: UUID
    public let partyCardNumber: String
    public let fullName: String
    public let sex: String
    public let birthDate: PGDate
    public let admittedOn: PGDate
    public let fullMemberOn: PGDate?
    /// Index in `DemoProvince.organizations` of the workplace branch.
    public let workplaceIndex: Int
    /// Index in `DemoProvince.organizations` of the commune or ward of residence.
    public let residenceCommuneIndex: Int
    public let residenceAddress: String
    public let exemption: String
    public let exemptionGround: String?
}

/// Sizes of one generated province. The demo province is the `members: 5000` case: 20 communes,
/// 150 residential branches, 30 workplace committees. Larger provinces keep ~167 members per
/// workplace committee (grassroots organizations grow with the membership) while communes grow
/// with the square root, so 34 provinces of 5.5 M members in all come to ~3,900 communes and
/// ~33,000 workplace committees, close to the national figures (reference/domain.md §8).
public struct DemoShape: Sendable, Equatable {
    public var members: Int
    public var communes: Int
    public var workplaces: Int

    public init(members: Int) {
        self.members = members
        let scale = Double(max(members, 1)) / 5000
        communes = max(2, Int((20 * scale.squareRoot()).rounded()))
        workplaces = max(2, Int((30 * scale).rounded()))
    }

    /// Residential branches of the commune at `index` (0-based): alternately 7 and 8.
    public static func residentialBranches(commune index: Int) -> Int { index % 2 == 0 ? 7 : 8 }
}

/// A generated province: its organizations (in depth order, every parent before its children) and
/// a deterministic stream of members. Pure: depends only on the seed, the province number and the
/// shape.
public struct DemoProvince: Sendable {
    public static let referenceDate = PGDate(year: 2025, month: 6, day: 30)!
    public static let validFrom = PGDate(year: 2025, month: 7, day: 1)!

    public let seed: UInt64
    /// 1-based province number: codes `DEMO-P01`, `DEMO-P02`, …
    public let number: Int
    public let shape: DemoShape
    public let code: String
    public let name: String
    public let organizations: [DemoOrganization]

    public var province: DemoOrganization { organizations[0] }
    /// Indices into `organizations`.
    public let communeIndices: [Int]
    public let residentialBranchIndices: [Int]
    public let workplaceIndices: [Int]
    public let workplaceBranchIndices: [Int]

    struct Commune: Sendable {
        let orgIndex: Int
        let ward: Bool
        let branches: Int
    }
    struct WorkplaceBranch: Sendable {
        let orgIndex: Int
        let sector: String
        let homeCommune: Int
    }
    let communes: [Commune]
    let branchTable: WeightedTable<WorkplaceBranch>
    let communeTable: WeightedTable<Int>

    public static func provinceCode(_ number: Int) -> String { "DEMO-P" + pad(number, 2) }

    /// - Parameters:
    ///   - parentPath: ltree path of the parent of the province (the central committee).
    public init(seed: UInt64, number: Int, members: Int, parentID: UUID, parentPath: String) {
        self.seed = seed
        self.number = number
        shape = DemoShape(members: members)
        code = DemoProvince.provinceCode(number)
        let baseName = DemoNames.provinces[(number - 1) % DemoNames.provinces.count]
        let round = (number - 1) / DemoNames.provinces.count
        let place = round == 0 ? baseName : "\(baseName) \(round + 1)"
        let isCity = DemoNames.cities.contains(baseName)
        name = (isCity ? "Đảng bộ thành phố " : "Đảng bộ tỉnh ") + place + " (dữ liệu mẫu)"

        var rng = SplitMix64(seed: seed, stream: UInt64(number), 1)
        var orgs: [DemoOrganization] = []
        func add(parent: Int?, kind: String, sector: String, code: String, name: String) -> Int {
            let id = rng.uuid()
            let parentID = parent.map { orgs[$0].id } ?? parentID
            let path = (parent.map { orgs[$0].path } ?? parentPath) + "." + id.orgLabel
            orgs.append(DemoOrganization(id: id, parentID: parentID, path: path, kind: kind, sector: sector, code: code, name: name))
            return orgs.count - 1
        }
        let provinceIndex = add(parent: nil, kind: "province", sector: "province", code: code, name: name)

        // Communes and wards, each with its residential branches (tổ dân phố in wards, thôn in communes).
        var communes: [Commune] = []
        var communeIdx: [Int] = [], residentialIdx: [Int] = []
        var communeWeights: [(Int, Double)] = []
        var placeNames: [String] = []
        for c in 0..<shape.communes {
            let places = DemoNames.places
            var placeName = places[(c + number * 7) % places.count]
            if c >= places.count { placeName += " " + DemoNames.placeSuffixes[(c / places.count - 1) % DemoNames.placeSuffixes.count] }
            if c >= places.count * (DemoNames.placeSuffixes.count + 1) { placeName += " \(c)" }
            placeNames.append(placeName)
            let ward = c % 5 < 2 || (isCity && c % 5 < 4)
            let cCode = code + "-X" + DemoProvince.pad(c + 1, 2)
            let ci = add(parent: provinceIndex, kind: "commune", sector: ward ? "ward" : "commune", code: cCode,
                         name: (ward ? "Đảng bộ phường " : "Đảng bộ xã ") + placeName)
            communeIdx.append(ci)
            let branches = DemoShape.residentialBranches(commune: c)
            for b in 1...branches {
                let bName = ward ? "Chi bộ Tổ dân phố \(b)" : "Chi bộ thôn " + DemoNames.villages[(b - 1) % DemoNames.villages.count]
                residentialIdx.append(add(parent: ci, kind: "branch", sector: ward ? "ward" : "commune",
                                          code: cCode + "-B" + DemoProvince.pad(b, 2), name: bName))
            }
            communes.append(Commune(orgIndex: ci, ward: ward, branches: branches))
            // Wards are denser than rural communes.
            communeWeights.append((c, (ward ? 1.4 : 0.8) * (0.6 + rng.unit())))
        }

        // Workplace grassroots committees under the province, each with 2–6 branches. The first is
        // always an agency whose home commune is the first commune (the demo handle relies on it).
        var workplaceIdx: [Int] = [], workplaceBranchIdx: [Int] = []
        var branchWeights: [(WorkplaceBranch, Double)] = []
        var sectorCounts: [String: Int] = [:]
        for w in 0..<shape.workplaces {
            let sector = DemoNames.workplaceSectors[w % DemoNames.workplaceSectors.count]
            let k = sectorCounts[sector, default: 0]
            sectorCounts[sector] = k + 1
            let home = w % shape.communes
            let wName = DemoProvince.workplaceName(sector: sector, ordinal: k, place: placeNames[home], round: w / DemoNames.workplaceSectors.count)
            let wCode = code + "-W" + DemoProvince.pad(w + 1, 2)
            let wi = add(parent: provinceIndex, kind: "grassroots_committee", sector: sector, code: wCode, name: "Đảng bộ " + wName)
            workplaceIdx.append(wi)
            let size = w == 0 ? 2.0 : 0.4 + 1.2 * rng.unit()
            let branchNames = DemoNames.workplaceBranches[sector]!
            let branchCount = rng.int(in: 2...6)
            for b in 1...branchCount {
                let bi = add(parent: wi, kind: "branch", sector: sector, code: wCode + "-B" + String(b),
                             name: "Chi bộ " + branchNames[(b - 1) % branchNames.count])
                workplaceBranchIdx.append(bi)
                branchWeights.append((WorkplaceBranch(orgIndex: bi, sector: sector, homeCommune: home),
                                      size / Double(branchCount) * (0.5 + rng.unit())))
            }
        }

        organizations = orgs
        communeIndices = communeIdx
        residentialBranchIndices = residentialIdx
        workplaceIndices = workplaceIdx
        workplaceBranchIndices = workplaceBranchIdx
        self.communes = communes
        branchTable = WeightedTable(branchWeights)
        communeTable = WeightedTable(communeWeights)
    }

    static func workplaceName(sector: String, ordinal k: Int, place: String, round: Int) -> String {
        if sector == "agency", k < DemoNames.agencies.count { return DemoNames.agencies[k] }
        let templates = DemoNames.workplaceTemplates[sector]!
        if k < templates.count {
            let t = templates[k]
            return t.contains("#") ? t.replacingOccurrences(of: "#", with: place) : t
        }
        let placed = templates.filter { $0.contains("#") }
        var name = placed[k % placed.count].replacingOccurrences(of: "#", with: place)
        if round > 0 && k >= templates.count + placed.count { name += " số \(round + 1)" }
        return name
    }

    /// The members, in party card number order, generated lazily.
    public func members() -> Members { Members(province: self) }

    public struct Members: Sequence, Sendable {
        let province: DemoProvince
        public func makeIterator() -> MemberIterator { MemberIterator(province: province) }
        public var underestimatedCount: Int { province.shape.members }
    }

    public struct MemberIterator: IteratorProtocol {
        let p: DemoProvince
        var rng: SplitMix64
        var produced = 0
        let cardPrefix: String
        static let birthLow = PGDate(year: 1955, month: 1, day: 1)!.daysSince2000
        static let birthHigh = PGDate(year: 2000, month: 12, day: 31)!.daysSince2000
        static let reference = DemoProvince.referenceDate.daysSince2000

        init(province: DemoProvince) {
            p = province
            rng = SplitMix64(seed: province.seed, stream: UInt64(province.number), 2)
            cardPrefix = "DM" + DemoProvince.pad(province.number, 2)
        }

        public mutating func next() -> DemoMember? {
            guard produced < p.shape.members else { return nil }
            produced += 1
            let id = rng.uuid()
            let branch = p.branchTable.pick(&rng)
            let armed = branch.sector == "army" || branch.sector == "police"
            let femaleShare: Double = switch branch.sector {
            case "army": 0.08
            case "police": 0.15
            case "public_service": 0.6
            case "agency": 0.45
            default: 0.35
            }
            let female = rng.chance(femaleShare)

            // Birth: triangular between 1955 and 2000, peaking in the late 1970s.
            let span = Double(Self.birthHigh - Self.birthLow)
            let birth = Self.birthLow + Int(span * (rng.unit() + rng.unit()) / 2)
            let birthYear = PGDate(daysSince2000: birth).year

            // Admitted between 19 and ~40, never after the reference date; a full member a year later.
            let adultAt = birth + 18 * 365 + 5
            var admitted = birth + Int(365.25 * Double(19 + rng.below(8) + rng.below(8) + rng.below(6))) + rng.below(365)
            if admitted > Self.reference - 30 { admitted = max(adultAt, Self.reference - 30 - rng.below(700)) }
            let admittedDate = PGDate(daysSince2000: admitted)
            // Full member after the 12-month probation: the same day a year later (29 Feb → 1 Mar).
            let yearLater = PGDate(year: admittedDate.year + 1, month: admittedDate.month, day: admittedDate.day)
                ?? PGDate(year: admittedDate.year + 1, month: 3, day: 1)!
            let full = yearLater <= DemoProvince.referenceDate ? yearLater : nil

            let name = Self.name(female: female, birthYear: birthYear, rng: &rng)

            // Residence: many members live near their workplace, the rest anywhere in the province.
            let communeNumber = rng.chance(0.35) ? branch.homeCommune : p.communeTable.pick(&rng)
            let commune = p.communes[communeNumber]
            let unit = 1 + rng.below(commune.branches)
            let address: String
            if commune.ward {
                var a = "Số " + String(1 + rng.below(220))
                if rng.chance(0.6) { a += ", ngõ " + String(1 + rng.below(160)) }
                address = a + ", đường " + DemoNames.streets[rng.below(DemoNames.streets.count)] + ", tổ dân phố " + String(unit)
            } else {
                address = "Xóm " + String(1 + rng.below(12)) + ", thôn " + DemoNames.villages[(unit - 1) % DemoNames.villages.count]
            }

            // Exemptions (HD 33): §1.1 for ~3 % (more among the armed forces), §1.2 only for the
            // armed forces (~1 % overall).
            var exemption = "none"
            var ground: String? = nil
            let u = rng.unit()
            if armed {
                if u < 0.08 {
                    exemption = "introduction"
                    ground = DemoNames.introductionGrounds[rng.below(DemoNames.introductionGrounds.count)]
                } else if u < 0.14 {
                    exemption = "activities"
                    ground = DemoNames.armedActivitiesGrounds[rng.below(DemoNames.armedActivitiesGrounds.count)]
                }
            } else if u < 0.026 {
                exemption = "activities"
                ground = DemoNames.activitiesGrounds[rng.below(DemoNames.activitiesGrounds.count)]
            }

            return DemoMember(
                id: id, partyCardNumber: cardPrefix + DemoProvince.pad(produced, 7), fullName: name,
                sex: female ? "female" : "male", birthDate: PGDate(daysSince2000: birth),
                admittedOn: admittedDate, fullMemberOn: full,
                workplaceIndex: branch.orgIndex, residenceCommuneIndex: commune.orgIndex, residenceAddress: address,
                exemption: exemption, exemptionGround: ground)
        }

        /// Family name, middle name(s), given name. "Văn"/"Thị" are less common among the young.
        static func name(female: Bool, birthYear: Int, rng: inout SplitMix64) -> String {
            let family = DemoNames.families.pick(&rng)
            let traditional = birthYear < 1975 ? 0.8 : birthYear < 1990 ? 0.55 : 0.3
            var middle: String
            if female {
                if rng.chance(traditional) {
                    middle = "Thị"
                    if rng.chance(0.15) { middle += " " + DemoNames.femaleSecondMiddles[rng.below(DemoNames.femaleSecondMiddles.count)] }
                } else {
                    middle = DemoNames.femaleMiddles.pick(&rng)
                }
            } else {
                middle = rng.chance(traditional * 0.75) ? "Văn" : DemoNames.maleMiddles.pick(&rng)
            }
            var given = female ? DemoNames.femaleGiven.pick(&rng) : DemoNames.maleGiven.pick(&rng)
            if given == middle { given = female ? DemoNames.femaleGiven.pick(&rng) : DemoNames.maleGiven.pick(&rng) }
            return family + " " + middle + " " + given
        }
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
