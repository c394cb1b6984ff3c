import Foundation
import Logging
import Postgres

/// Creates the annual requests of a campaign in set-based SQL, one chunk per transaction. A chunk
/// commits its requests, their `assessment_request.created` events and its counts together, so
/// progress is exact and an interrupted campaign resumes with the chunks not done. Chunks are
/// claimed with `FOR UPDATE SKIP LOCKED`: any number of workers, in any number of instances, share
/// a campaign without running a chunk twice. The unique index `assessment_requests_one_annual`
/// makes any re-run skip members that already have this year's request.
///
/// Measured on the national data (bench/campaign.sh): per chunk of ~31,000 requests, the inserts
/// and their index entries dominate; that is why the requests table keeps btree indexes on
/// organization ids (not GiST on paths) and why a campaign's due dates are computed once.
enum CampaignGenerator {
    /// Chunks of a campaign too large to answer synchronously: ranges of the (random) introduction
    /// ids, ~30,000 eligible members each at national scale.
    static let asyncChunks = 64

    /// `[lo, hi)` of chunk `k` of `total` over the uuid space (hi nil for the last chunk).
    static func bounds(chunk k: Int, of total: Int) -> (lo: UUID, hi: UUID?) {
        func boundary(_ i: Int) -> UUID {
            let v = UInt32((UInt64(i) << 32) / UInt64(total))
            return UUID(uuid: (UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff),
                               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        }
        return (boundary(k), k + 1 < total ? boundary(k + 1) : nil)
    }

    /// Records the campaign's chunks and the due date of its first step for every open commune
    /// (the policy's `request_forward` days, never after the campaign's due date). In the
    /// transaction that creates the campaign.
    static func prepare(_ db: Connection, campaignID: UUID, chunks: Int) throws {
        try db.execute("INSERT INTO assessment_campaign_chunks (campaign_id, chunk) SELECT $1, g FROM generate_series(0, $2::int - 1) g",
                       campaignID, chunks)
        try db.execute("""
            INSERT INTO assessment_campaign_dues (campaign_id, commune_id, due_on)
            SELECT k.id, c.id, LEAST(hcm_today() + COALESCE((
                       SELECT p.request_forward FROM deadline_policies p JOIN organizations a ON a.id = p.org_id
                       WHERE a.path @> c.path AND p.request_forward IS NOT NULL ORDER BY nlevel(a.path) DESC LIMIT 1), 7), k.due_on)
            FROM assessment_campaigns k JOIN organizations c ON c.kind = 'commune'
            WHERE k.id = $1
            """, campaignID)
    }

    struct Counts { var candidates = 0, eligible = 0, created = 0, skippedExempt = 0, skippedNotActive = 0 }

    /// Runs chunk `k` of `total` inside the caller's transaction. A campaign in one chunk (a
    /// workplace's subtree) starts from the subtree's members; a chunk of a large one from its
    /// range of introductions, looking each member up (a subtree condition is useless there).
    static func run(_ db: Connection, campaignID: UUID, chunk k: Int, of total: Int) throws -> Counts {
        guard let c = try db.queryRow("""
            SELECT year, org_path::text, due_on, created_by, (SELECT org_id FROM accounts WHERE id = created_by)
            FROM assessment_campaigns WHERE id = $1
            """, campaignID) else { throw APIError.notFound("assessment campaign") }
        let template = try FormTemplates.current(db, .A)
        let (lo, hi) = bounds(chunk: k, of: total)
        let columns = "i.id AS introduction_id, i.member_id, i.status, m.exemption, i.workplace_id, i.commune_id"
        let live = "i.status IN ('sent', 'received', 'assigned', 'active')"
        try db.queryUnprepared("DROP TABLE IF EXISTS campaign_candidates")
        if total == 1 {
            try db.queryUnprepared("""
                CREATE TEMP TABLE campaign_candidates ON COMMIT DROP AS SELECT \(columns)
                FROM members m JOIN introductions i ON i.member_id = m.id AND \(live) WHERE m.workplace_path <@ $1::text::ltree
                """, parameters: [try c.decode(String.self, 1)])
        } else {
            try db.queryUnprepared("""
                CREATE TEMP TABLE campaign_candidates ON COMMIT DROP AS SELECT \(columns)
                FROM introductions i CROSS JOIN LATERAL (SELECT exemption, workplace_path FROM members WHERE id = i.member_id LIMIT 1) m
                WHERE \(live) AND i.id >= $1::text::uuid AND ($2::text IS NULL OR i.id < $2::text::uuid) AND m.workplace_path <@ $3::text::ltree
                """, parameters: [lo.lower, hi?.lower, try c.decode(String.self, 1)])
        }
        // Row counts for the planner: the insert below joins the candidates to the dues by hash.
        try db.queryUnprepared("ANALYZE campaign_candidates")
        let created = try db.queryUnprepared("""
            WITH ins AS (
                INSERT INTO assessment_requests (member_id, introduction_id, purpose, year, campaign_id, form_variant, form_version, needed_by,
                    requester_org_id, commune_id, status, awaiting_org_id, due_on, created_by)
                SELECT e.member_id, e.introduction_id, 'annual', $1::int, $2::text::uuid, 'A', $3::int, $4::text::date, e.workplace_id,
                       e.commune_id, 'requested', e.commune_id, d.due_on, $5::text::uuid
                FROM campaign_candidates e JOIN assessment_campaign_dues d ON d.campaign_id = $2::text::uuid AND d.commune_id = e.commune_id
                WHERE e.status = 'active' AND e.exemption = 'none'
                ON CONFLICT (member_id, annual_year) DO NOTHING
                RETURNING id, requester_org_id, commune_id
            ), ev AS (
                INSERT INTO events (type, entity_type, entity_id, org_ids, actor_account_id, acting_for_org_id, request_id, data)
                SELECT 'assessment_request.created', 'assessment_request', id, ARRAY[requester_org_id, commune_id], $5::text::uuid,
                       $6::text::uuid, NULL, jsonb_build_object('purpose', 'annual', 'campaign_id', $2::text::uuid, 'form_variant', 'A')
                FROM ins
                RETURNING 1
            )
            SELECT count(*) FROM ev
            """, parameters: [try c.decode(Int.self, 0), campaignID.lower, template.version, try c.decode(PGDate.self, 2).description,
                              try c.decode(UUID?.self, 3)?.lower, try c.decode(UUID?.self, 4)?.lower])
        let row = try db.queryUnprepared("""
            SELECT count(*), count(*) FILTER (WHERE status = 'active' AND exemption = 'none'),
                   count(*) FILTER (WHERE status = 'active' AND exemption = 'activities'), count(*) FILTER (WHERE status <> 'active')
            FROM campaign_candidates
            """)
        guard let n = row.firstRow, let made = created.firstRow else { throw APIError.notFound("assessment campaign") }
        return Counts(candidates: try n.decode(Int.self, 0), eligible: try n.decode(Int.self, 1), created: try made.decode(Int.self, 0),
                      skippedExempt: try n.decode(Int.self, 2), skippedNotActive: try n.decode(Int.self, 3))
    }

    /// Claims, runs and records one chunk of a running campaign; returns false when none is left
    /// to claim (all done, or the rest being run by other workers).
    static func step(_ db: Connection, campaignID: UUID) throws -> Bool {
        try db.transaction { db -> Bool in
            guard let claimed = try db.queryRow("""
                SELECT h.chunk, k.chunks_total FROM assessment_campaign_chunks h JOIN assessment_campaigns k ON k.id = h.campaign_id
                WHERE h.campaign_id = $1 AND h.done_at IS NULL AND k.status = 'running'
                ORDER BY h.chunk LIMIT 1 FOR UPDATE OF h SKIP LOCKED
                """, campaignID) else { return false }
            let chunk = try claimed.decode(Int.self, 0), total = try claimed.decode(Int.self, 1)
            let n = try run(db, campaignID: campaignID, chunk: chunk, of: total)
            try db.execute("UPDATE assessment_campaign_chunks SET done_at = now() WHERE campaign_id = $1 AND chunk = $2", campaignID, chunk)
            // The campaign row is updated last, so concurrent chunks hold its lock only for their commit.
            let done = try db.queryRow("""
                UPDATE assessment_campaigns SET chunks_done = chunks_done + 1, candidates = candidates + $2, eligible = eligible + $3,
                    created = created + $4, skipped_exempt = skipped_exempt + $5, skipped_existing = skipped_existing + $6,
                    skipped_not_active = skipped_not_active + $7, updated_at = now(), version = version + 1,
                    status = CASE WHEN chunks_done + 1 = chunks_total THEN 'done' ELSE status END,
                    finished_at = CASE WHEN chunks_done + 1 = chunks_total THEN now() END
                WHERE id = $1
                RETURNING status = 'done', org_id, created, skipped_exempt, skipped_existing
                """, campaignID, n.candidates, n.eligible, n.created, n.skippedExempt, n.eligible - n.created, n.skippedNotActive)!
            if try done.decode(Bool.self, 0) {
                try EventLog.append(db, type: "assessment_campaign.completed", entityType: "assessment_campaign", entityID: campaignID,
                                    orgIDs: [try done.decode(UUID.self, 1)], actor: nil, requestID: nil,
                                    data: ["created": try done.decode(Int.self, 2), "skipped_exempt": try done.decode(Int.self, 3),
                                           "skipped_existing": try done.decode(Int.self, 4)])
            }
            return true
        }
    }

    /// Marks a campaign failed with a reason (SQLSTATE-level text, never personal data). Outages
    /// (connection lost, serialization, deadlock) are not failures: the chunk rolled back and the
    /// runner tries again at its next poll.
    static func fail(_ db: Connection, campaignID: UUID, error: any Error, logger: Logger) {
        if let e = error as? PostgresError, [.connectionUnavailable, .serializationFailure, .deadlockDetected].contains(e.kind) {
            logger.warning("campaign generation interrupted", metadata: ["campaign_id": .string(campaignID.lower), "error": .string("\(e.kind)")])
            return
        }
        logger.error("campaign generation failed", metadata: ["campaign_id": .string(campaignID.lower), "error": .string("\(error)")])
        _ = try? db.execute("""
            UPDATE assessment_campaigns SET status = 'failed', error = $2, finished_at = now(), updated_at = now(), version = version + 1
            WHERE id = $1 AND status = 'running'
            """, campaignID, String(String(describing: error).prefix(500)))
    }
}
