import Crypto
import Foundation

/// One record of the audit chain: who (account and its organization), for which organization,
/// under which delegation, what (action = method and route pattern, response status), on which
/// entity, which fields (names; values only for `AuditFields.valueWhitelist`), the request id and
/// the SHA-256 of the request body; linked to the previous record by `prevHash`.
public struct AuditRecord: Sendable, Equatable {
    public var sequence: Int64
    /// Microseconds since 1970-01-01T00:00:00Z (the database clock when the record was appended).
    public var atMicros: Int64
    public var accountID: UUID?
    public var accountOrgID: UUID?
    public var orgID: UUID?
    public var delegationID: UUID?
    public var action: String
    public var status: Int
    public var entityType: String?
    public var entityID: UUID?
    /// Field name → value, or nil when the value is withheld (personal) or not a scalar.
    public var fields: [String: String?]
    public var requestID: String?
    public var bodySHA256: [UInt8]
    public var prevHash: [UInt8]
    public var hash: [UInt8]

    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// The canonical form (version 1) that `hash` is the SHA-256 of. UTF-8 text, 15 lines joined by
    /// LF with no final LF, in this order, each `name=value`:
    ///
    ///     branchlink-audit-v1
    ///     sequence=<decimal>
    ///     at=<microseconds since the Unix epoch, decimal>
    ///     account_id=<uuid>            account_org_id=<uuid>    org_id=<uuid>    delegation_id=<uuid>
    ///     action=<pct>
    ///     status=<decimal>
    ///     entity_type=<pct>
    ///     entity_id=<uuid>
    ///     fields=<entries sorted by the UTF-8 bytes of the name, joined by ",": pct(name) when the
    ///             value is withheld, pct(name)=pct(value) otherwise>
    ///     request_id=<pct>
    ///     body_sha256=<64 lowercase hex digits>
    ///     prev_hash=<64 lowercase hex digits>
    ///
    /// (the four ids are four lines, in the order shown). UUIDs are lowercase with hyphens; an
    /// absent value is empty; `pct` percent-encodes every byte of the UTF-8 text except
    /// `A–Z a–z 0–9 - . _ ~` as `%XX` with uppercase hex, so no value can contain `=`, `,` or LF.
    public var canonical: String {
        func id(_ u: UUID?) -> String { u?.uuidString.lowercased() ?? "" }
        let f = fields.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            .map { name, value in value.map { "\(Self.pct(name))=\(Self.pct($0))" } ?? Self.pct(name) }
            .joined(separator: ",")
        return [
            "branchlink-audit-v1",
            "sequence=\(sequence)",
            "at=\(atMicros)",
            "account_id=\(id(accountID))",
            "account_org_id=\(id(accountOrgID))",
            "org_id=\(id(orgID))",
            "delegation_id=\(id(delegationID))",
            "action=\(Self.pct(action))",
            "status=\(status)",
            "entity_type=\(Self.pct(entityType ?? ""))",
            "entity_id=\(id(entityID))",
            "fields=\(f)",
            "request_id=\(Self.pct(requestID ?? ""))",
            "body_sha256=\(Self.hex(bodySHA256))",
            "prev_hash=\(Self.hex(prevHash))",
        ].joined(separator: "\n")
    }

    public var computedHash: [UInt8] { Array(SHA256.hash(data: Array(canonical.utf8))) }

    static func pct(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(b >> 4, radix: 16, uppercase: true) + String(b & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What the audit record of one write says about its entity and fields. Filled with defaults by
/// `AuditTrail` from the route and the bodies; a handler may set or add to it through
/// `AppContext.audit`.
public final class AuditNote {
    public var entityType: String?
    public var entityID: UUID?
    public var fields: [String: String?] = [:]
    public init() {}

    /// Records `name` with `value` only when the name is on the non-personal whitelist.
    public func field(_ name: String, _ value: String?) {
        fields[name] = AuditFields.valueWhitelist.contains(name) ? value : .some(nil)
    }
}

/// The pure rules of what an audit record names by default.
enum AuditFields {
    /// Fields whose values say nothing about a person: state codes, kinds, roles, years, ids of
    /// organizations and accounts, dates of steps, flags and counts. Everything else (names, birth
    /// dates, card numbers, addresses, grades, remarks, reasons, notes, summaries, member ids) is
    /// recorded by name only.
    static let valueWhitelist: Set<String> = [
        "status", "kind", "role", "purpose", "year", "sector", "code", "reason_code", "form_variant", "variant", "proposal_kind",
        "org_id", "parent_id", "new_parent_id", "into_id", "workplace_id", "commune_id", "branch_id", "campaign_id",
        "account_id", "delegate_account_id",
        "valid_from", "valid_until", "valid_to", "due_on", "needed_by", "held_on", "effective_on", "expires_at",
        "received_on", "assigned_on", "acknowledged_on", "ended_on",
        "confidential", "dry_run", "atomic", "rows", "ok", "failed", "written", "items", "created",
    ]

    /// `/v1/assessment-requests/{id}/forward` → ("assessment_request", "id"); `/v1/policies/{org_id}`
    /// → ("policy", "org_id"); `/v1/imports/members` → ("import", nil).
    static func entity(route: String) -> (type: String?, idParameter: String?) {
        let segments = route.split(separator: "/").map(String.init)
        guard segments.count >= 2, segments[0] == "v1" else { return (nil, nil) }
        let collection = segments[1]
        var type = collection.replacingOccurrences(of: "-", with: "_")
        if type.hasSuffix("ies") { type = String(type.dropLast(3)) + "y" } else if type.hasSuffix("s") { type = String(type.dropLast()) }
        let parameter = segments.count >= 3 && segments[2].hasPrefix("{") && segments[2].hasSuffix("}")
            ? String(segments[2].dropFirst().dropLast()) : nil
        return (type, parameter)
    }

    /// The top-level names of a JSON object body with the whitelisted scalar values; nil for a body
    /// that is not a JSON object (CSV imports, empty bodies).
    static func fromBody(_ body: [UInt8]) -> [String: String?] {
        // Bodies over 1 MiB (batches, CSV files) are not parsed again: their digest identifies them.
        guard !body.isEmpty, body.count <= 1 << 20, body.first == UInt8(ascii: "{"), let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return [:] }
        var out: [String: String?] = [:]
        for (name, value) in object {
            out[name] = valueWhitelist.contains(name) ? scalar(value) : .some(nil)
        }
        return out
    }

    static func scalar(_ value: Any) -> String? {
        switch value {
        case let s as String: return s
        case let n as NSNumber: return JSONInput.isBool(n) ? (n.boolValue ? "true" : "false") : n.stringValue
        default: return nil
        }
    }

    /// The `id` and `status` of a JSON object response (the created resource, the new state).
    static func fromResponse(_ body: [UInt8]) -> (id: UUID?, status: String?) {
        guard body.first == UInt8(ascii: "{"), body.count <= 1 << 16,
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return (nil, nil) }
        return ((object["id"] as? String).flatMap(UUID.init(uuidString:)), object["status"] as? String)
    }
}
