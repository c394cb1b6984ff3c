import Foundation
import HTTP
import Postgres

/// What `q` asks for.
public enum MemberSearch: Sendable, Equatable {
    /// Exact party card number.
    case card(String)
    /// Accent- and case-insensitive name search: the name's search key (`search_key`: lower +
    /// unaccent, so also đ→d) contains `search_key(q)` as a substring. Ranked by spelling (see
    /// `MemberListQuery`): names containing `q` with its accents (case-insensitive) first, then by
    /// trigram similarity of the whole name to `q`.
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
/// Order: `(created_at, id)`; for a name search `(score, form, created_at, id)` where `form` is
/// the lower-cased spelling of the name and `score = -(exact_accent_match + similarity)` (exact
/// matches score below -1, so they come first; within each tier the most similar name first;
/// equal scores grouped by spelling). The score is a function of the spelling alone, so the search
/// ranks the few spellings (`member_name_forms`, trigram index) instead of the many members, and
/// reads members one spelling at a time in keyset order. All four keys are in the cursor, so
/// paging stays keyset-stable: a row's key only changes when its name does.
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
    public var keyCount: Int { ranked ? 4 : 2 }

    /// Subtrees at most this deep (the root, a province) hold too many members to read them all:
    /// a name search there walks the ranked spellings; deeper ones read their members and join
    /// them to the matching spellings.
    static let spellingFirstDepth = 2

    /// Whether a name search reads spellings first (see `spellingFirstDepth`).
    public var spellingFirst: Bool {
        func depth(_ p: String) -> Int { p.split(separator: ".").count }
        return max(depth(scopePath), orgPath.map(depth) ?? 0) <= Self.spellingFirstDepth
    }

    /// The statement and its parameters for the page after `after` (the keys of the last row of
    /// the previous page), fetching `limit + 1` rows. The score and the spelling are the last two
    /// selected columns when `ranked`.
    public func sql(after: [String]?, limit: Int) throws -> (sql: String, parameters: [any PostgresEncodable]) {
        try sql(after: after, limit: Optional(limit))
    }

    /// The same; `limit` nil (not for name searches) is the whole set in order, for `stream`.
    func sql(after: [String]?, limit: Int?) throws -> (sql: String, parameters: [any PostgresEncodable]) {
        var conditions = [Policy.memberScopeSQL(alias: "m", param: 1), visibilitySQL]
        var params: [any PostgresEncodable] = [scopePath]
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        if let v = orgPath { conditions.append("m.workplace_path <@ $\(bind(v))::ltree") }
        if let v = exemption { conditions.append("m.exemption = $\(bind(v.rawValue))") }
        if let v = linkStatus {
            let live = "SELECT 1 FROM introductions ls WHERE ls.member_id = m.id AND ls.status IN ('sent', 'received', 'assigned', 'active')"
            conditions.append(v == "none" ? "NOT EXISTS (\(live))" : "EXISTS (\(live) AND ls.status = $\(bind(v)))")
        }
        if let after, after.count != keyCount { throw Self.badCursor }
        let keys = after.map { Array($0.suffix(2)) }
        var keyset: (created: Int, id: Int)?
        if let keys {
            guard Timestamp.parse(keys[0]) != nil, let id = UUID(uuidString: keys[1]) else { throw Self.badCursor }
            // Timestamps travel as text (a Date round trip would lose microseconds).
            keyset = (bind(keys[0]), bind(id))
        }
        switch search {
        case .name(let q)?:
            return try rankedSQL(q, after: after, keyset: keyset, conditions: conditions, params: params, limit: limit ?? 500)
        case .card(let card)?:
            conditions.append("m.party_card_number = $\(bind(card))")
        case nil:
            break
        }
        if let k = keyset { conditions.append("(m.created_at, m.id) > ($\(k.created)::text::timestamptz, $\(k.id))") }
        // The scope is "works in the subtree OR has a live link into it". Written as that OR the
        // planner can estimate neither side: it tested the link of every member (50 s for a
        // province's first page on 5.5 M members). So each side is its own ordered, limited branch:
        // - the workplace side walks members in (created_at, id) order: for a province (or
        //   anything below one) within the province's range of members_province_order, so the
        //   walk ends where the province's members end instead of running on through the others';
        //   a small subtree reads its path index and sorts the few it finds;
        // - the residence side starts from the live links into the subtree of members working
        //   elsewhere (for a province, its boundary-crossing links in member_links), and is sorted,
        //   never walked: walking members to find the few that match read the whole index. The
        //   root has no residence side (everyone works under it).
        let rest = conditions.dropFirst().joined(separator: " AND ")
        let limitClause = limit.map { " LIMIT \($0 + 1)" } ?? ""
        let depth = scopePath.split(separator: ".").count
        var sql = "(SELECT \(Member.columns) FROM members m WHERE m.workplace_path <@ $1::ltree"
            + (depth >= 2 ? " AND subpath(m.workplace_path, 0, least(2, nlevel(m.workplace_path))) = subpath($1::ltree, 0, 2)" : "")
            + " AND \(rest) ORDER BY m.created_at, m.id\(limitClause))"
        if depth >= 2 {
            // A province's residents who work elsewhere cross its boundary: read from the partial
            // index of such links (member_links, migration 0016), not from its ~150,000 links.
            let residence = depth == 2
                ? """
                    SELECT \(Member.columns) FROM members m
                    WHERE m.id IN (SELECT ml.member_id FROM member_links ml
                                   WHERE subpath(ml.link_path, 0, least(2, nlevel(ml.link_path))) <> subpath(ml.workplace_path, 0, least(2, nlevel(ml.workplace_path)))
                                     AND ml.link_path <@ $1::ltree AND NOT ml.workplace_path <@ $1::ltree)
                      AND \(rest)
                    """
                : """
                    SELECT \(Member.columns) FROM introductions li JOIN members m ON m.id = li.member_id
                    WHERE li.status IN ('sent', 'received', 'assigned', 'active') AND (li.commune_path <@ $1::ltree OR li.branch_path <@ $1::ltree)
                      AND NOT m.workplace_path <@ $1::ltree AND \(rest)
                    """
            sql = """
                SELECT * FROM (
                    \(sql)
                    UNION ALL
                    (\(residence) ORDER BY m.created_at + interval '0 s', m.id\(limitClause))
                ) m ORDER BY m.created_at, m.id\(limitClause)
                """
        }
        return (sql, params)
    }

    private func rankedSQL(_ q: String, after: [String]?, keyset: (created: Int, id: Int)?, conditions: [String],
                           params: [any PostgresEncodable], limit: Int) throws -> (sql: String, parameters: [any PostgresEncodable]) {
        var conditions = conditions, params = params
        func bind(_ v: any PostgresEncodable) -> Int { params.append(v); return params.count }
        let n = bind(q)
        // The pattern is built in SQL from search_key(), with LIKE's wildcards escaped; planned with
        // the value known (see `fetch`), it folds to a constant the trigram index can serve.
        let spellings = """
            SELECT fo.form, -((CASE WHEN strpos(fo.form, lower($\(n))) > 0 THEN 1 ELSE 0 END)::float8
                   + similarity(fo.search_key, search_key($\(n)))::float8) AS score
            FROM member_name_forms fo
            WHERE fo.search_key LIKE '%' || replace(replace(replace(search_key($\(n)), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
            """
        var cursor: (score: Int, form: Int)?
        if let after, keyset != nil {
            // The score as a float8 parameter, bit for bit what the previous page computed.
            guard let score = Double(after[0]), score.isFinite else { throw Self.badCursor }
            cursor = (bind(score), bind(after[1]))
        }
        let order = "f.score, f.form, m.created_at, m.id"
        let select = Member.columns + ", f.score, f.form"
        if spellingFirst {
            var inner = conditions
            inner.append("lower(m.full_name) = f.form")
            var ranked = "SELECT s.form, s.score FROM (\(spellings)) s"
            if let c = cursor, let k = keyset {
                ranked += " WHERE (s.score, s.form) >= ($\(c.score)::float8, $\(c.form))"
                inner.append("((f.score, f.form) > ($\(c.score)::float8, $\(c.form)) OR (m.created_at, m.id) > ($\(k.created)::text::timestamptz, $\(k.id)))")
            }
            let sql = """
                SELECT \(select) FROM (\(ranked) ORDER BY s.score, s.form) f
                CROSS JOIN LATERAL (SELECT m.* FROM members m WHERE \(inner.joined(separator: " AND "))
                    ORDER BY m.created_at, m.id LIMIT \(limit + 1)) m
                ORDER BY \(order) LIMIT \(limit + 1)
                """
            return (sql, params)
        }
        // Few members in scope: read them (workplace side and residence side, each through its
        // path index) and keep those whose spelling matches.
        let candidates: String
        if let org = orgPath, org.split(separator: ".").count > scopePath.split(separator: ".").count {
            candidates = "SELECT c.id FROM members c WHERE c.workplace_path <@ $\(bind(org))::ltree"
        } else {
            candidates = """
                SELECT c.id FROM members c WHERE c.workplace_path <@ $1::ltree
                UNION ALL SELECT li.member_id FROM introductions li WHERE li.status IN ('sent', 'received', 'assigned', 'active')
                    AND (li.commune_path <@ $1::ltree OR li.branch_path <@ $1::ltree)
                """
        }
        conditions.append("m.id IN (\(candidates))")
        if let c = cursor, let k = keyset {
            conditions.append("(f.score, f.form, m.created_at, m.id) > ($\(c.score)::float8, $\(c.form), $\(k.created)::text::timestamptz, $\(k.id))")
        }
        let sql = """
            SELECT \(select) FROM members m JOIN (\(spellings)) f ON f.form = lower(m.full_name)
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT \(limit + 1)
            """
        return (sql, params)
    }

    /// Bounds the one statement of a whole-set stream: a province's set is sorted once (seconds),
    /// which the per-request statement timeout is not meant for.
    static let streamStatementTimeout = "300s"

    /// The whole filtered set in order, for CSV/XLSX: one statement through a cursor, so the set
    /// is read and sorted once in one snapshot and then fetched 1,000 rows at a time. Paging it by
    /// key instead re-runs the query per page, and a large subtree's last page walks the rest of
    /// the (created_at, id) index looking for rows that are not there. Name searches page (their
    /// results are short and ranked).
    func stream(_ db: Connection, emit: ([Member]) throws -> Void) throws {
        guard !ranked else {
            var after: [String]? = nil
            repeat {
                let (members, next) = try fetch(db, after: after, limit: 1000)
                try emit(members)
                after = next
            } while after != nil
            return
        }
        let (sql, params) = try sql(after: nil, limit: nil)
        try db.transaction(readOnly: true) { db in
            _ = try db.queryUnprepared("SET LOCAL jit = off")
            _ = try db.queryUnprepared("SET LOCAL cursor_tuple_fraction = 1")
            _ = try db.queryUnprepared("SET LOCAL work_mem = '128MB'")  // a province's rows sort in memory
            _ = try db.queryUnprepared("SET LOCAL statement_timeout = '\(Self.streamStatementTimeout)'")
            _ = try db.queryUnprepared("DECLARE member_stream NO SCROLL CURSOR FOR " + sql, parameters: params)
            while true {
                let rows = try db.queryUnprepared("FETCH 1000 FROM member_stream")
                try emit(try rows.map(Member.init(row:)))
                if rows.count < 1000 { break }
            }
            _ = try db.queryUnprepared("CLOSE member_stream")
        }
    }

    static let badCursor = APIError(status: 400, code: "invalid_cursor", detail: "The cursor is not one this list issued.")

    /// Runs one page: the members and the keys of the last one when there is a next page.
    /// Every page runs unprepared, so it is planned with its values known: a cached generic plan
    /// cannot see a name search's pattern (it would read every spelling instead of using the
    /// index) nor how large the caller's subtree is (a province and a branch need opposite plans).
    /// JIT is off: the cost estimates (every matching member) are far above what the LIMIT lets
    /// the query do, and compiling would cost more than the query.
    public func fetch(_ db: Connection, after: [String]?, limit: Int) throws -> (members: [Member], next: [String]?) {
        let (sql, params) = try sql(after: after, limit: limit)
        let rows = try db.transaction(readOnly: true) { db in
            _ = try db.queryUnprepared("SET LOCAL jit = off")
            return try db.queryUnprepared(sql, parameters: params)
        }
        var members: [Member] = []
        var lastScore = 0.0, lastForm = ""
        for row in rows.prefix(limit) {
            members.append(try Member(row: row))
            if ranked { lastScore = try row.decode(Double.self, 17); lastForm = try row.decode(String.self, 18) }
        }
        guard rows.count > limit, let last = members.last else { return (members, nil) }
        let tail = [Timestamp.rfc3339(last.createdAt), last.id.lower]
        return (members, ranked ? ["\(lastScore)", lastForm] + tail : tail)
    }
}
