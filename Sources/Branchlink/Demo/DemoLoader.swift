import Foundation
import Postgres

/// Writes generated provinces into the database (COPY, one transaction per province) with their
/// exchanges (DemoExchanges, same transaction) and issues the demo accounts and tokens. Loading is
/// idempotent: a province whose code exists is left alone, except that it gains its exchanges if it
/// has none yet (provinces loaded before exchanges existed).
public enum DemoLoader {
    public static let defaultSeed: UInt64 = 213
    public static let defaultMembers = 5000
    public static let rootID = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!

    public struct ProvinceResult: Sendable {
        public let code: String
        public let name: String
        public let provinceID: UUID
        /// False when the province already existed (nothing was written).
        public let loaded: Bool
        public let organizations: Int
        public let members: Int
        public let seconds: Double
        /// The exchanges written now (`loaded == false` when the province already had them).
        public var exchanges = DemoExchanges.Result(loaded: false)
        /// The pilot province's assessments written now (`loaded == false` otherwise).
        public var assessments = DemoAssessments.Result(loaded: false)
        public var rowsPerSecond: Double { seconds > 0 ? Double(organizations + members) / seconds : 0 }
    }

    /// Loads provinces `1...provinces`, with `members` spread evenly over them (the first ones take
    /// the remainder). `progress` is called after each province.
    @discardableResult
    public static func load(_ db: Connection, seed: UInt64 = defaultSeed, provinces: Int = 1, members: Int = defaultMembers,
                            progress: (ProvinceResult) -> Void = { _ in }) throws -> [ProvinceResult] {
        precondition(provinces >= 1 && provinces <= 99, "1 to 99 provinces")
        precondition(members >= provinces, "at least one member per province")
        var results: [ProvinceResult] = []
        for number in 1...provinces {
            let share = members / provinces + (number <= members % provinces ? 1 : 0)
            let r = try loadProvince(db, seed: seed, number: number, members: share)
            progress(r)
            results.append(r)
        }
        if results.contains(where: \.loaded) {
            try db.execute("ANALYZE organizations")
            try db.execute("ANALYZE members")
        }
        if results.contains(where: \.exchanges.loaded) {
            for table in ["introductions", "change_notices", "workplace_tasks", "letter_counters"] {
                try db.execute("ANALYZE \(table)")
            }
        }
        // The demo shows what the scheduler makes of its data: reminders of the steps due soon or
        // overdue, and escalations of those long overdue, as `branchlink serve` writes them at its
        // first tick today. Only after new data: a second load adds nothing.
        if results.contains(where: { $0.loaded || $0.exchanges.loaded || $0.assessments.loaded }) {
            for task in Scheduler.standardTasks() { _ = try task.runOnce(db: db, now: Date()) }
        }
        return results
    }

    /// Generates and writes one province and its exchanges unless its code already exists; an
    /// existing province gains its exchanges if it has none (with the seed it was generated with).
    public static func loadProvince(_ db: Connection, seed: UInt64, number: Int, members: Int) throws -> ProvinceResult {
        let started = ContinuousClock.now
        return try db.transaction { db in
            let code = DemoProvince.provinceCode(number)
            // Two loaders at once: the second waits, then sees the province and skips it.
            try db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 213))", "branchlink.demo." + code)
            try db.execute("SET LOCAL synchronous_commit = off")
            if let row = try db.queryRow("SELECT id, name FROM organizations WHERE code = $1", code) {
                let id = try row.decode(UUID.self, 0)
                let stored = try db.queryRow("""
                    SELECT data ->> 'seed' FROM events WHERE entity_type = 'organization' AND entity_id = $1 AND type = 'demo.loaded'
                    ORDER BY sequence LIMIT 1
                    """, id).flatMap { try $0.decode(String?.self, 0) }.flatMap { UInt64($0) }
                var result = ProvinceResult(code: code, name: try row.decode(String.self, 1), provinceID: id,
                                            loaded: false, organizations: 0, members: 0, seconds: 0)
                result.exchanges = try DemoExchanges.load(db, provinceCode: code, number: number, seed: stored ?? seed)
                if number == 1 { result.assessments = try DemoAssessments.load(db, provinceCode: code, seed: stored ?? seed) }
                if number == 1 { try DemoWebhooks.load(db, provinceCode: code) }
                return result
            }
            guard let root = try db.queryRow("SELECT path::text FROM organizations WHERE id = $1", rootID) else {
                throw DemoError("the central committee (root organization) is missing: run the migrations first")
            }
            let province = DemoProvince(seed: seed, number: number, members: members, parentID: rootID,
                                        parentPath: try root.decode(String.self, 0))
            let orgCount = try copyOrganizations(db, province)
            let memberCount = try copyMembers(db, province)
            try EventLog.append(db, type: "demo.loaded", entityType: "organization", entityID: province.province.id,
                                orgIDs: [province.province.id], actor: nil, requestID: nil,
                                data: ["seed": String(seed), "organizations": orgCount, "members": memberCount])
            let exchanges = try DemoExchanges.load(db, provinceCode: code, number: number, seed: seed)
            // A bulk load by SQL, not a request: audited as one system record with its counts.
            try AuditChain.append(db, AuditChain.Entry(orgID: province.province.id, action: "demo.load", entityType: "organization",
                                                       entityID: province.province.id,
                                                       fields: ["organizations": String(orgCount), "members": String(memberCount),
                                                                "seed": String(seed)]))
            let elapsed = started.duration(to: .now)
            var result = ProvinceResult(code: code, name: province.name, provinceID: province.province.id, loaded: true,
                                        organizations: orgCount, members: memberCount,
                                        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            result.exchanges = exchanges
            // Only the pilot province runs this year's campaign: elsewhere a benchmark (or an
            // officer) starts it.
            if number == 1 { result.assessments = try DemoAssessments.load(db, provinceCode: code, seed: seed) }
            if number == 1 { try DemoWebhooks.load(db, provinceCode: code) }
            return result
        }
    }

    static func copyOrganizations(_ db: Connection, _ p: DemoProvince) throws -> Int {
        let validFrom = DemoProvince.validFrom.iso8601
        return try db.copyIn(sql: "COPY organizations (id, parent_id, path, kind, sector, code, name, valid_from) FROM STDIN") { w in
            for o in p.organizations {
                w.appendField(o.id.demoText, separator: false)
                w.appendField(o.parentID.demoText, separator: true)
                w.appendField(o.path, separator: true)
                w.appendField(o.kind, separator: true)
                w.appendField(o.sector, separator: true)
                w.appendField(o.code, separator: true)
                w.appendField(o.name, separator: true)
                w.appendField(validFrom, separator: true)
                try w.endRow()
            }
        }
    }

    static func copyMembers(_ db: Connection, _ p: DemoProvince) throws -> Int {
        let ids = p.organizations.map { $0.id.demoText }
        let provinceID = ids[0]
        return try db.copyIn(sql: """
            COPY members (id, party_card_number, full_name, sex, birth_date, admitted_on, full_member_on, workplace_org_id,
                          workplace_path, residence_province_id, residence_commune_id, residence_address, exemption, exemption_ground)
            FROM STDIN
            """) { w in
            for m in p.members() {
                w.appendField(m.id.demoText, separator: false)
                w.appendField(m.partyCardNumber, separator: true)
                w.appendField(m.fullName, separator: true)
                w.appendField(m.sex, separator: true)
                w.appendField(m.birthDate.iso8601, separator: true)
                w.appendField(m.admittedOn.iso8601, separator: true)
                w.appendField(m.fullMemberOn?.iso8601, separator: true)
                w.appendField(ids[m.workplaceIndex], separator: true)
                w.appendField(p.organizations[m.workplaceIndex].path, separator: true)
                w.appendField(provinceID, separator: true)
                w.appendField(ids[m.residenceCommuneIndex], separator: true)
                w.appendField(m.residenceAddress, separator: true)
                w.appendField(m.exemption, separator: true)
                w.appendField(m.exemptionGround, separator: true)
                try w.endRow()
            }
        }
    }

    // MARK: - Accounts and tokens

    /// The demo accounts: key in demo.json, which demo organization, role, account name.
    enum DemoOrg { case province, workplace, commune, branch, otherCommune }

    static let accounts: [(key: String, org: DemoOrg, role: Role, name: String)] = [
        ("admin", .province, .admin, "Demo: quản trị tỉnh"),
        ("province_viewer", .province, .viewer, "Demo: Ban Tổ chức Tỉnh ủy"),
        ("workplace_officer", .workplace, .officer, "Demo: cán bộ đảng ủy cơ quan"),
        ("commune_officer", .commune, .officer, "Demo: cán bộ đảng ủy xã/phường"),
        ("branch_officer", .branch, .officer, "Demo: bí thư chi bộ khu dân cư"),
        ("other_commune_officer", .otherCommune, .officer, "Demo: cán bộ đảng ủy xã/phường khác"),
    ]

    static let tokenName = "demo"

    /// Creates the demo accounts of province `number` (once) and gives each a fresh token named
    /// "demo", revoking the previous demo tokens of those accounts. The province must be loaded.
    public static func issueTokens(_ db: Connection, baseURL: String, province number: Int = 1) throws -> DemoHandle {
        try db.transaction { db in
            let p = DemoProvince.provinceCode(number)
            let codes = [p, p + "-W01", p + "-X01", p + "-X01-B01", p + "-X02"]
            var found: [String: String] = [:]
            for row in try db.query("SELECT code, id FROM organizations WHERE code = ANY($1)", codes) {
                found[try row.decode(String.self, 0)] = try row.decode(UUID.self, 1).lower
            }
            guard let province = found[codes[0]], let workplace = found[codes[1]], let commune = found[codes[2]],
                  let branch = found[codes[3]], let other = found[codes[4]] else {
                throw DemoError("the demo province \(p) is not loaded (missing: \(codes.filter { found[$0] == nil }.joined(separator: ", ")))")
            }
            let orgs = DemoHandle.Orgs(province: province, workplace: workplace, commune: commune, branch: branch, otherCommune: other)
            var tokens: [String: String] = [:]
            var accountIDs: [String: UUID] = [:]
            for spec in accounts {
                let orgID = UUID(uuidString: orgs.id(of: spec.org))!
                let accountID: UUID
                if let row = try db.queryRow("""
                    SELECT id FROM accounts WHERE org_id = $1 AND role = $2 AND name = $3 AND disabled_at IS NULL
                    ORDER BY created_at LIMIT 1
                    """, orgID, spec.role.rawValue, spec.name) {
                    accountID = try row.decode(UUID.self, 0)
                } else {
                    accountID = UUID()
                    try db.execute("INSERT INTO accounts (id, org_id, role, name) VALUES ($1, $2, $3, $4)",
                                   accountID, orgID, spec.role.rawValue, spec.name)
                    try EventLog.append(db, type: "account.created", entityType: "account", entityID: accountID, orgIDs: [orgID],
                                        actor: nil, requestID: nil, data: ["role": spec.role.rawValue, "via": "demo"])
                }
                for row in try db.query("""
                    UPDATE tokens SET revoked_at = now() WHERE account_id = $1 AND name = $2 AND revoked_at IS NULL RETURNING id
                    """, accountID, tokenName) {
                    try EventLog.append(db, type: "token.revoked", entityType: "token", entityID: try row.decode(UUID.self, 0),
                                        orgIDs: [orgID], actor: nil, requestID: nil, data: ["via": "demo"])
                }
                let issued = try TokenIssuer.issue(db, accountID: accountID, name: tokenName)
                try EventLog.append(db, type: "token.created", entityType: "token", entityID: issued.id, orgIDs: [orgID],
                                    actor: nil, requestID: nil, data: ["account_id": accountID.lower, "via": "demo"])
                tokens[spec.key] = issued.secret
                accountIDs[spec.key] = accountID
            }
            try DemoDelegations.ensure(db, commune: UUID(uuidString: commune)!, grantor: accountIDs["commune_officer"]!,
                                       delegate: accountIDs["branch_officer"]!)
            return DemoHandle(baseURL: baseURL, tokens: DemoHandle.Tokens(
                admin: tokens["admin"]!, provinceViewer: tokens["province_viewer"]!, workplaceOfficer: tokens["workplace_officer"]!,
                communeOfficer: tokens["commune_officer"]!, branchOfficer: tokens["branch_officer"]!,
                otherCommuneOfficer: tokens["other_commune_officer"]!), orgs: orgs)
        }
    }
}

/// The contents of `.branchlink/demo.json` (DESIGN.md §3, "Demo handle"): where the server is,
/// one token per demo role and the ids of the demo organizations. Scripts and tests start from it.
public struct DemoHandle: Codable, Sendable, Equatable {
    public struct Tokens: Codable, Sendable, Equatable {
        public var admin: String
        public var provinceViewer: String
        public var workplaceOfficer: String
        public var communeOfficer: String
        public var branchOfficer: String
        public var otherCommuneOfficer: String

        enum CodingKeys: String, CodingKey {
            case admin, provinceViewer = "province_viewer", workplaceOfficer = "workplace_officer",
                 communeOfficer = "commune_officer", branchOfficer = "branch_officer", otherCommuneOfficer = "other_commune_officer"
        }
    }

    /// Organization ids (lowercase UUIDs). `branch` is a residential branch of `commune`; members of
    /// `workplace` live in `commune` (among other communes).
    public struct Orgs: Codable, Sendable, Equatable {
        public var province: String
        public var workplace: String
        public var commune: String
        public var branch: String
        public var otherCommune: String

        enum CodingKeys: String, CodingKey {
            case province, workplace, commune, branch, otherCommune = "other_commune"
        }

        func id(of org: DemoLoader.DemoOrg) -> String {
            switch org {
            case .province: province
            case .workplace: workplace
            case .commune: commune
            case .branch: branch
            case .otherCommune: otherCommune
            }
        }
    }

    public var baseURL: String
    public var tokens: Tokens
    public var orgs: Orgs

    enum CodingKeys: String, CodingKey {
        case baseURL = "base_url", tokens, orgs
    }

    public static let fileName = "demo.json"

    /// Writes `demo.json` into `directory` (created if missing), readable by its owner only since it
    /// holds bearer tokens; replaced atomically.
    @discardableResult
    public func write(toDirectory directory: String) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self) + Data("\n".utf8)
        let path = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName).path
        let temporary = path + ".tmp"
        _ = fm.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600])
        try data.write(to: URL(fileURLWithPath: temporary))
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temporary)
        if rename(temporary, path) != 0 {
            throw DemoError("cannot write \(path): errno \(errno)")
        }
        return path
    }

    public static func read(fromDirectory directory: String) throws -> DemoHandle {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        return try JSONDecoder().decode(DemoHandle.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

public struct DemoError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
