import Foundation
import Postgres

/// Kinds of party organizations (DESIGN.md §3a) and where each may sit in the tree. Pure rules,
/// table-tested in OrganizationModelTests.
public enum OrgKind: String, CaseIterable, Sendable, Codable {
    case central, province, directlySubordinate = "directly_subordinate", district, commune
    case grassrootsCommittee = "grassroots_committee", grassrootsBranch = "grassroots_branch"
    case partialCommittee = "partial_committee", branch

    /// Kinds a node of this kind may be placed under. `district` is kept for history (abolished 2025).
    public var allowedParents: Set<OrgKind> {
        switch self {
        case .central: []
        case .province: [.central]
        case .directlySubordinate, .district: [.province]
        case .commune: [.province, .district]
        case .grassrootsCommittee, .grassrootsBranch: [.province, .directlySubordinate, .district, .commune]
        case .partialCommittee: [.grassrootsCommittee]
        case .branch: [.grassrootsCommittee, .partialCommittee, .commune]
        }
    }

    /// Sectors a node of this kind may have.
    public var allowedSectors: Set<OrgSector> {
        switch self {
        case .central: [.central]
        case .province: [.province]
        case .commune: [.commune, .ward, .specialZone]
        case .district: [.other]
        case .directlySubordinate, .grassrootsCommittee, .grassrootsBranch, .partialCommittee, .branch:
            Set(OrgSector.allCases).subtracting([.central, .province])
        }
    }
}

public enum OrgSector: String, CaseIterable, Sendable, Codable {
    case central, province, commune, ward, specialZone = "special_zone", agency
    case enterpriseState = "enterprise_state", enterpriseJSC = "enterprise_jsc", enterprisePrivate = "enterprise_private"
    case enterpriseFDI = "enterprise_fdi", publicService = "public_service", army, police, other
}

public struct Organization: Encodable, Sendable {
    public var id: UUID
    public var parentId: UUID?
    public var kind: String
    public var sector: String
    public var code: String
    public var name: String
    public var validFrom: PGDate
    public var validTo: PGDate?
    public var mergedIntoId: UUID?
    public var residential: Bool
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    var path: String

    enum CodingKeys: String, CodingKey {
        case id, parentId, kind, sector, code, name, validFrom, validTo, mergedIntoId, residential, createdAt, updatedAt, version
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.lower, forKey: .id)
        try c.encode(parentId?.lower, forKey: .parentId)
        try c.encode(kind, forKey: .kind)
        try c.encode(sector, forKey: .sector)
        try c.encode(code, forKey: .code)
        try c.encode(name, forKey: .name)
        try c.encode(validFrom, forKey: .validFrom)
        try c.encode(validTo, forKey: .validTo)
        try c.encode(mergedIntoId?.lower, forKey: .mergedIntoId)
        try c.encode(residential, forKey: .residential)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(version, forKey: .version)
    }

    static let columns = """
        o.id, o.parent_id, o.kind, o.sector, o.code, o.name, o.valid_from, o.valid_to, o.merged_into_id,
        (o.kind = 'branch' AND p.kind = 'commune'), o.created_at, o.updated_at, o.version, o.path::text
        """
    static let from = "organizations o LEFT JOIN organizations p ON p.id = o.parent_id"

    init(row: Row) throws {
        id = try row.decode(UUID.self, 0)
        parentId = try row.decode(UUID?.self, 1)
        kind = try row.decode(String.self, 2)
        sector = try row.decode(String.self, 3)
        code = try row.decode(String.self, 4)
        name = try row.decode(String.self, 5)
        validFrom = try row.decode(PGDate.self, 6)
        validTo = try row.decode(PGDate?.self, 7)
        mergedIntoId = try row.decode(UUID?.self, 8)
        residential = try row.decode(Bool?.self, 9) ?? false
        createdAt = try row.decode(Date.self, 10)
        updatedAt = try row.decode(Date.self, 11)
        version = try row.decode(Int.self, 12)
        path = try row.decode(String.self, 13)
    }

    public func encoded() throws -> [UInt8] { try JSONOutput.encode(self) }

    static let csvHeader = ["id", "parent_id", "kind", "sector", "code", "name", "valid_from", "valid_to", "merged_into_id",
                            "residential", "created_at", "updated_at", "version"]

    var csvRow: [String?] {
        [id.lower, parentId?.lower, kind, sector, code, name, validFrom.description, validTo?.description, mergedIntoId?.lower,
         residential ? "true" : "false", Timestamp.rfc3339(createdAt), Timestamp.rfc3339(updatedAt), String(version)]
    }
}
