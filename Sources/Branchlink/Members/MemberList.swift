import Foundation
import HTTP
import Postgres

/// What `q` asks for.
public enum MemberSearch: Sendable, Equatable {
    /// Exact party card number.
    case card(String)
    /// Accent- and case-insensitive name search: `search_key(full_name)` (lower + unaccent, so also
    /// đ→d) contains `search_key(q)` as a substring, served by the trigram GIN index
    /// `members_search_trgm`. Ranked: names containing `q` with its accents (case-insensitive)
    /// first, then by trigram similarity of the whole name to `q`.
    case name(String)

    /// Parses `q` (NFC, white space collapsed); throws 400 for a name query too short to use the
    /// trigram index.
    public static func parse(_ raw: String) throws -> MemberSearch? {
        let q = MemberRules.normalizeName(raw)
        if q.isEmpty { return nil }
        guard q.count <= 100 else { throw APIError.invalidParameter("q", "must be at most 100 characters") }
        if MemberRules.looksLikeCardNumber(q) { return .card(q) }
        guard q.filter({ $0.isLetter || $0.isNumber }).count >= MemberRules.minimumSearchCharacters else {
            throw APIError.invalidParameter("q", "must contain at least \(MemberRules.minimumSearchCharacters) letters")
        }
        return .name(q)
    }
}

/// One keyset page of members as SQL. Public so that tests can EXPLAIN exactly what the list runs.
///
/// Order: `(created_at, id)`; for a name search `(score, created_at, id)` where
/// `score = -(exact_accent_match + similarity)` (exact matches score below -1, so they come first;
/// within each tier the most similar name first). The score is part of the cursor, so paging stays
/// keyset-stable: a row's score only changes when its name does.
public struct MemberListQuery: Sendable {
    /// The caller's organization path: members whose workplace is in its subtree.
    public var scopePath: String
    /// `Policy.memberVisibilitySQL` for the caller, on column `m.exemption`.
    public var visibilitySQL: String
    /// `org_id` filter: the path of that organization (workplace subtree).
    public var orgPath: String?
    public var exemption: MemberExemption?
    public var search: MemberSearch?
    /// `link_status`: `none` (no live introduction) or the status of the live one.
    public var linkStatus: String?

    public init(scopePath: String, visibilitySQL: String, orgPath: String? = nil, exemption: MemberExemption? = nil, search: MemberSearch? = nil) {
        self.scopePath = scopePath; self.visibilitySQL = visibilitySQL; self.orgPath = orgPath
        self.exemption = exemption; self.search = search
    }

    public var ranked: Bool { if case .name = search { true } else { false } }
    public var keyCount: Int { ranked ? 3 : 2 }

    /// The statement and its parameters for the page after `after` (the keys of the last row of
    /// the previous page), fetching `limit + 1` rows. The score is the last selected column when
    /// `ranked`.
    public func sql(after: [String]?, limit: Int) throws -> (sql: String, parameters: [any PostgresEncodable]) {
        var conditions = [Policy.memberScopeSQL(alias: "m", param: 1), visibilitySQL]
        var params: [any PostgresEncodable] = [scopePath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = orgPath { conditions.append("m.workplace_path <@ $\(bind(v))::ltree") }
        if let v = exemption { conditions.append("m.exemption = $\(bind(v.rawValue))") }
        if let v = linkStatus {
            let live = "SELECT 1 FROM introductions ls WHERE ls.member_id = m.id AND ls.status IN ('sent', 'received', 'assigned', 'active')"
            conditions.append(v == "none" ? "NOT EXISTS (\(live))" : "EXISTS (\(live) AND ls.status = $\(bind(v)))")
        }
        var from = "members m"
        var order = "m.created_at, m.id"
        var select = Member.columns
        switch search {
        case .card(let card)?:
            conditions.append("m.party_card_number = $\(bind(card))")
        case .name(let q)?:
            let n = bind(q)
            // The pattern is built in SQL from the same search_key() the index is built on, with
            // LIKE's wildcards escaped; planned with the value known (see `fetch`), it folds to a
            // constant the trigram index can serve.
            conditions.append("""
                search_key(m.full_name) LIKE '%' || replace(replace(replace(search_key($\(n)), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
                """)
            from += """
                 CROSS JOIN LATERAL (SELECT -((CASE WHEN strpos(lower(m.full_name), lower($\(n))) > 0 THEN 1 ELSE 0 END)::float8
                    + similarity(search_key(m.full_name), search_key($\(n)))::float8) AS score) s
                """
            order = "s.score, m.created_at, m.id"
            select += ", s.score"
        case nil:
            break
        }
        if let after {
            guard after.count == keyCount else { throw Self.badCursor }
            // Timestamps travel as text (a Date round trip would lose microseconds); the score as
            // a float8 parameter, bit for bit what the previous page computed.
            let keys = Array(after.suffix(2))
            guard Timestamp.parse(keys[0]) != nil, let id = UUID(uuidString: keys[1]) else { throw Self.badCursor }
            if ranked {
                guard let score = Double(after[0]), score.isFinite else { throw Self.badCursor }
                conditions.append("(s.score, m.created_at, m.id) > ($\(bind(score))::float8, $\(bind(keys[0]))::text::timestamptz, $\(bind(id)))")
            } else {
                conditions.append("(m.created_at, m.id) > ($\(bind(keys[0]))::text::timestamptz, $\(bind(id)))")
            }
        }
        let sql = "SELECT \(select) FROM \(from) WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT \(limit + 1)"
        return (sql, params)
    }

    static let badCursor = APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")

    /// Runs one page: the members and the keys of the last one when there is a next page.
    /// Name searches run unprepared, so each is planned with its pattern known: a cached generic
    /// plan cannot see the pattern and would filter the whole subtree instead of using the index.
    public func fetch(_ db: Connection, after: [String]?, limit: Int) throws -> (members: [Member], next: [String]?) {
        let (sql, params) = try sql(after: after, limit: limit)
        let rows = ranked ? try db.queryUnprepared(sql, parameters: params) : try db.query(sql, parameters: params)
        var members: [Member] = []
        var lastScore = 0.0
        for row in rows.prefix(limit) {
            members.append(try Member(row: row))
            if ranked { lastScore = try row.decode(Double.self, 17) }
        }
        guard rows.count > limit, let last = members.last else { return (members, nil) }
        let tail = [Timestamp.rfc3339(last.createdAt), last.id.lower]
        return (members, ranked ? ["\(lastScore)"] + tail : tail)
    }
}
