import Foundation

/// The one statement behind a coverage report ($1 the target's path, $2 the year). Each source
/// aggregates by organization id first, from counters (members) or straight from an index where it
/// can (a province's 60,000 introductions: `introductions_commune_cover`), and only then maps the
/// few thousand organizations to report rows: `s` gives each organization of the subtree the path
/// of the row it belongs to (NULL: counted in the total only). Result columns: source, row path,
/// k1, k2, k3, n0…n6 (CoverageRow.add reads them).
extension CoverageReport {
    static func sql(target: Target, side: Side, grassroots: Bool, residenceCaller: Bool) -> String {
        let rowOf: String
        if grassroots {
            // The outermost workplace committee above each organization, if any.
            rowOf = """
                SELECT o.id AS org, g.child FROM organizations o LEFT JOIN (
                    SELECT DISTINCT ON (u.id) u.id, c.path::text AS child
                    FROM organizations c JOIN organizations u ON u.path <@ c.path
                    WHERE c.path <@ $1::ltree AND c.kind IN ('grassroots_committee', 'grassroots_branch', 'partial_committee')
                    ORDER BY u.id, nlevel(c.path)) g ON g.id = o.id
                WHERE o.path <@ $1::ltree
                """
        } else {
            rowOf = """
                SELECT o.id AS org, CASE WHEN nlevel(o.path) > nlevel($1::ltree) THEN subpath(o.path, 0, nlevel($1::ltree) + 1)::text END AS child
                FROM organizations o WHERE o.path <@ $1::ltree
                """
        }
        // "Is this organization id in the subtree": every organization at the root.
        func inTree(_ column: String) -> String { target.isRoot ? "\(column) IS NOT NULL" : "\(column) = ANY((SELECT a FROM ids)::uuid[])" }
        func pathInTree(_ column: String) -> String { target.isRoot ? "TRUE" : "\(column) <@ $1::ltree" }
        let residence = side == .child
        let branchLevel = target.org.residentialBranch
        // Below a commune the rows are its branches: items are keyed by branch, else by commune.
        let resKey = target.org.kind == "commune" || branchLevel ? "branch_id" : "commune_id"
        var sources: [String] = []

        // Members from their counts per organization (migration 0017), kept in step by triggers.
        let hideExempt = residenceCaller ? " AND c.exemption <> 'introduction'" : ""
        if !residence || !branchLevel {
            sources.append("""
                SELECT 'm' AS src, c.org_id AS org, c.exemption AS k1, NULL::text AS k2, NULL::text AS k3,
                       c.n AS n0, 0::bigint AS n1, 0::bigint AS n2, 0::bigint AS n3, 0::bigint AS n4, 0::bigint AS n5, 0::bigint AS n6
                FROM member_counts c WHERE c.side = '\(residence ? "residence" : "workplace")' AND \(inTree("c.org_id"))\(hideExempt)
                """)
        }

        // Introductions keyed by commune or workplace come from their counts (migration 0018); a
        // commune's or a branch's rows are its branches, read from the introductions themselves.
        if resKey == "commune_id" || !residence {
            sources.append("""
                SELECT 'i', c.org_id, c.status, c.exemption_marker::text, NULL, c.n, 0, 0, 0, 0, 0, 0
                FROM introduction_counts c WHERE c.side = '\(residence ? "commune" : "workplace")' AND \(inTree("c.org_id"))
                """)
        } else {
            let introScope = branchLevel ? pathInTree("i.branch_path") : inTree("i.commune_id")
            sources.append("""
                SELECT 'i', i.\(resKey), i.status, i.exemption_marker::text, NULL, count(*), 0, 0, 0, 0, 0, 0
                FROM introductions i WHERE \(introScope) GROUP BY 2, 3, 4
                """)
        }

        let noticeKey = residence ? "n.\(resKey)" : "n.workplace_id"
        let noticeScope = residence ? pathInTree(branchLevel ? "n.branch_path" : "n.commune_path") : pathInTree("n.workplace_path")
        sources.append("""
            SELECT 'n', \(noticeKey), n.status, (n.due_on < hcm_today())::text, NULL, count(*), 0, 0, 0, 0, 0, 0
            FROM change_notices n WHERE \(noticeScope) GROUP BY 2, 3, 4
            """)

        // A request's form and meeting are looked up only for the requests that can have them
        // (the lateral subqueries' conditions on r alone are one-time filters: no probe otherwise).
        let requestKey = residence ? "r.\(resKey)" : "r.requester_org_id"
        let requestScope = residence ? inTree(branchLevel ? "r.branch_id" : "r.commune_id") : inTree("r.requester_org_id")
        sources.append("""
            SELECT 'r', \(requestKey), CASE WHEN r.purpose = 'annual' THEN 'annual' ELSE 'on_demand' END, r.status, f.proposal,
                   count(*), count(*) FILTER (WHERE r.confidential), count(fm.ok), count(f.request_id),
                   coalesce(sum(f.g1), 0), coalesce(sum(f.g2), 0), coalesce(sum(f.g3), 0)
            FROM assessment_requests r
            LEFT JOIN LATERAL (
                SELECT f.request_id, f.proposal, g.g1, g.g2, g.g3 FROM assessment_forms f
                CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE e.value = '1') AS g1, count(*) FILTER (WHERE e.value = '2') AS g2,
                                           count(*) FILTER (WHERE e.value = '3') AS g3 FROM jsonb_each_text(f.grades) e) g
                WHERE f.request_id = r.id AND r.status IN ('submitted', 'confirmed', 'closed')) f ON TRUE
            LEFT JOIN LATERAL (
                SELECT 1 AS ok FROM assessment_meetings mt WHERE mt.id = r.meeting_id AND mt.front_attendees > 0 AND r.meeting_id IS NOT NULL) fm ON TRUE
            WHERE \(requestScope) AND r.year = $2::int GROUP BY 2, 3, 4, 5
            """)

        sources.append("""
            SELECT 'o', x.org, x.step, NULL, NULL, count(*), 0, 0, 0, 0, 0, 0 FROM (\(OverdueReport.waitingUnion(orgCondition: inTree))) x\(OverdueReport.columns) GROUP BY 2, 3
            """)

        return """
            WITH s AS MATERIALIZED (\(rowOf)),
            ids AS MATERIALIZED (SELECT array_agg(org) AS a FROM s),
            agg (src, org, k1, k2, k3, n0, n1, n2, n3, n4, n5, n6) AS (\(sources.joined(separator: "\nUNION ALL\n")))
            SELECT agg.src, s.child, agg.k1, agg.k2, agg.k3, sum(n0)::bigint, sum(n1)::bigint, sum(n2)::bigint, sum(n3)::bigint,
                   sum(n4)::bigint, sum(n5)::bigint, sum(n6)::bigint
            FROM agg LEFT JOIN s ON s.org = agg.org
            GROUP BY 1, 2, 3, 4, 5
            """
    }
}
