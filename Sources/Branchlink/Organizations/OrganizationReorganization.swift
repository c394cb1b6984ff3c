import Foundation
import HTTP
import Postgres

/// Re-parenting and merging: how the 2025 abolition of districts and the commune mergers are done.
/// Both rewrite the materialized paths of the whole moved subtree (and members' copies of them) in
/// one transaction, and keep history: a merged node stays, closed (`valid_to`) and pointing at the
/// node it was merged into.
extension OrganizationRoutes {
    static func move(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        let newParentID = input.uuid("new_parent_id")
        try input.finish()
        guard let newParentID else { return .json(500, "{}") }

        let response = try ctx.db.transaction { db in
            let org = try load(db, id, for: p, forUpdate: true)
            try Policy.require(p, .administer, at: org.path, what: "organization")
            try ETag.checkIfMatch(request, version: org.version)
            let parent = try load(db, newParentID, for: p)
            guard let kind = OrgKind(rawValue: org.kind), let sector = OrgSector(rawValue: org.sector) else { throw APIError.notFound("organization") }
            try checkPlacement(kind: kind, sector: sector, parentKind: parent.kind, parentPointer: "/new_parent_id")
            guard !(parent.path == org.path || parent.path.hasPrefix(org.path + ".")) else {
                throw APIError(status: 422, code: "invalid_parent", detail: "An organization cannot be moved under itself or its own subtree.",
                               errors: [FieldError(pointer: "/new_parent_id", code: "invalid_parent", message: "is inside the moved subtree")])
            }
            guard parent.validTo == nil else {
                throw APIError(status: 409, code: "organization_closed", detail: "The new parent organization is closed.")
            }
            try reparent(db, subtreePath: org.path, newParentPath: parent.path)
            try db.execute("UPDATE organizations SET parent_id = $2, updated_at = now(), version = version + 1 WHERE id = $1", id, newParentID)
            try EventLog.append(db, type: "organization.moved", entityType: "organization", entityID: id,
                                orgIDs: [id, newParentID] + (org.parentId.map { [$0] } ?? []), actor: p, requestID: request.requestID,
                                data: ["from_parent_id": org.parentId?.lower ?? NSNull(), "to_parent_id": newParentID.lower])
            let moved = try load(db, id, for: p)
            return try JSONOutput.resource(moved, version: moved.version)
        }
        let principals = ctx.principals
        ctx.afterCommit { principals.invalidateAll() }  // paths of accounts' organizations may have changed
        return response
    }

    static func merge(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        let intoID = input.uuid("into_id")
        try input.finish()
        guard let intoID else { return .json(500, "{}") }
        guard intoID != id else {
            throw APIError(status: 422, code: "validation_failed", detail: "An organization cannot be merged into itself.",
                           errors: [FieldError(pointer: "/into_id", code: "invalid_value", message: "is the merged organization itself")])
        }

        let response = try ctx.db.transaction { db in
            let org = try load(db, id, for: p, forUpdate: true)
            try Policy.require(p, .administer, at: org.path, what: "organization")
            try ETag.checkIfMatch(request, version: org.version)
            let into = try load(db, intoID, for: p, forUpdate: true)
            guard org.kind == into.kind else {
                throw APIError(status: 422, code: "invalid_merge", detail: "Only organizations of the same kind merge (\(org.kind) into \(into.kind)).",
                               errors: [FieldError(pointer: "/into_id", code: "invalid_merge", message: "is a \(into.kind)")])
            }
            guard org.validTo == nil, into.validTo == nil else {
                throw APIError(status: 409, code: "organization_closed", detail: "Both organizations must be open to merge.")
            }
            guard !(into.path.hasPrefix(org.path + ".")) else {
                throw APIError(status: 422, code: "invalid_merge", detail: "An organization cannot be merged into its own descendant.")
            }
            // Children move under the surviving node, members and accounts follow, residence
            // addresses naming the old commune now name the new one.
            let children = try db.query("SELECT id, path::text FROM organizations WHERE parent_id = $1", id)
            for child in children {
                let childPath = try child.decode(String.self, 1)
                try reparent(db, subtreePath: childPath, newParentPath: into.path)
            }
            try db.execute("UPDATE organizations SET parent_id = $2, updated_at = now(), version = version + 1 WHERE parent_id = $1", id, intoID)
            let members = try db.execute("""
                UPDATE members SET workplace_org_id = $2, workplace_path = $3::ltree, updated_at = now(), version = version + 1
                WHERE workplace_org_id = $1
                """, id, intoID, into.path)
            let residents = try db.execute("""
                UPDATE members SET residence_commune_id = $2, updated_at = now(), version = version + 1 WHERE residence_commune_id = $1
                """, id, intoID)
            try db.execute("UPDATE accounts SET org_id = $2, updated_at = now(), version = version + 1 WHERE org_id = $1", id, intoID)
            try redirectExchanges(db, from: id, to: intoID, newPath: into.path)
            try db.execute("""
                UPDATE organizations SET valid_to = CURRENT_DATE, merged_into_id = $2, updated_at = now(), version = version + 1 WHERE id = $1
                """, id, intoID)
            try EventLog.append(db, type: "organization.merged", entityType: "organization", entityID: id,
                                orgIDs: [id, intoID], actor: p, requestID: request.requestID,
                                data: ["into_id": intoID.lower, "children_moved": children.count, "members_moved": members, "residents_moved": residents])
            let merged = try load(db, id, for: p)
            return try JSONOutput.resource(merged, version: merged.version)
        }
        let principals = ctx.principals
        ctx.afterCommit { principals.invalidateAll() }
        return response
    }

    /// Rewrites the path of every node of the subtree rooted at `subtreePath` (and the members whose
    /// workplace is in it) so that the root sits directly under `newParentPath`.
    static func reparent(_ db: Connection, subtreePath: String, newParentPath: String) throws {
        try db.execute("""
            UPDATE organizations SET path = $2::ltree || subpath(path, nlevel($1::ltree) - 1)
            WHERE path <@ $1::ltree
            """, subtreePath, newParentPath)
        // Every copy of a path moves with the subtree, or scoping of exchanges would go stale.
        for (table, column) in pathCopies {
            try db.execute("""
                UPDATE \(table) SET \(column) = $2::ltree || subpath(\(column), nlevel($1::ltree) - 1)
                WHERE \(column) <@ $1::ltree
                """, subtreePath, newParentPath)
        }
    }

    /// Columns holding a copy of an organization's path (kept in step by reorganizations).
    static let pathCopies: [(table: String, column: String)] = [("members", "workplace_path"), ("assessment_campaigns", "org_path")]
        + involvedSides.flatMap { t in t.sides.map { (t.table, $0.path) } }

    /// Tables naming the organizations an exchange involves: (id column, path column) per side, and
    /// whether it waits on one of them (`awaiting_org_id`, always one of the sides). Assessment
    /// requests hold ids only (no path copies): see `redirectExchanges`.
    static let involvedSides: [(table: String, sides: [(id: String, path: String)], awaits: Bool)] = [
        ("introductions", [("workplace_id", "workplace_path"), ("commune_id", "commune_path"), ("branch_id", "branch_path")], true),
        ("change_notices", [("workplace_id", "workplace_path"), ("commune_id", "commune_path"), ("branch_id", "branch_path")], true),
        ("residence_reports", [("workplace_id", "workplace_path"), ("commune_id", "commune_path"), ("branch_id", "branch_path")], true),
        ("assessment_meetings", [("branch_id", "branch_path"), ("commune_id", "commune_path")], false),
        ("residence_meetings", [("branch_id", "branch_path"), ("commune_id", "commune_path")], false),
    ]

    /// After a merge, the exchanges that named the closed organization name the surviving one: its
    /// id and path, and the waits addressed to it. One statement per table, so that a row is never
    /// seen half-redirected (assessment requests check that they wait on one of their own sides).
    static func redirectExchanges(_ db: Connection, from old: UUID, to new: UUID, newPath: String) throws {
        for t in involvedSides {
            var sets = t.sides.flatMap { side in [
                "\(side.id) = CASE WHEN \(side.id) = $1 THEN $2 ELSE \(side.id) END",
                "\(side.path) = CASE WHEN \(side.id) = $1 THEN $3::ltree ELSE \(side.path) END",
            ] }
            if t.awaits { sets.append("awaiting_org_id = CASE WHEN awaiting_org_id = $1 THEN $2 ELSE awaiting_org_id END") }
            let touched = t.sides.map { "\($0.id) = $1" }.joined(separator: " OR ")
            try db.execute("UPDATE \(t.table) SET \(sets.joined(separator: ", ")) WHERE \(touched)", old, new, newPath)
        }
        try db.execute("""
            UPDATE assessment_requests SET
                requester_org_id = CASE WHEN requester_org_id = $1 THEN $2 ELSE requester_org_id END,
                commune_id = CASE WHEN commune_id = $1 THEN $2 ELSE commune_id END,
                branch_id = CASE WHEN branch_id = $1 THEN $2 ELSE branch_id END,
                awaiting_org_id = CASE WHEN awaiting_org_id = $1 THEN $2 ELSE awaiting_org_id END
            WHERE requester_org_id = $1 OR commune_id = $1 OR branch_id = $1
            """, old, new)
        try db.execute("UPDATE workplace_tasks SET awaiting_org_id = $2 WHERE awaiting_org_id = $1", old, new)
        try db.execute("UPDATE assessment_campaigns SET org_id = $2, org_path = $3::ltree WHERE org_id = $1", old, new, newPath)
        // A campaign's due dates: the surviving commune keeps its own where it has one.
        try db.execute("""
            DELETE FROM assessment_campaign_dues d WHERE d.commune_id = $1
              AND EXISTS (SELECT 1 FROM assessment_campaign_dues e WHERE e.campaign_id = d.campaign_id AND e.commune_id = $2)
            """, old, new)
        try db.execute("UPDATE assessment_campaign_dues SET commune_id = $2 WHERE commune_id = $1", old, new)
        try db.execute("UPDATE members SET residence_province_id = $2 WHERE residence_province_id = $1", old, new)
    }
}
