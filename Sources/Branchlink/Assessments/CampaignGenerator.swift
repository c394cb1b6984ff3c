import Foundation
import Logging
import Postgres

/// Creates the annual requests of a campaign in set-based SQL, one chunk (a range of introduction
/// ids) per transaction. Each chunk commits its requests, their `assessment_request.created` events
/// and its counts together, so progress is exact and an interrupted campaign resumes at the next
/// chunk. The unique index `assessment_requests_one_annual` makes any re-run (or a concurrent one)
/// skip members that already have this year's request.
enum CampaignGenerator {
    /// Chunks of a campaign too large to answer synchronously: 64 ranges of the (random) introduction
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

    struct Counts { var candidates = 0, eligible = 0, created = 0, skippedExempt = 0, skippedNotActive = 0 }

    /// Runs chunk `k` inside the caller's transaction.
    static func run(_ db: Connection, campaignID: UUID, chunk k: Int, of total: Int) throws -> Counts {
        guard let c = try db.queryRow("""
            SELECT year, org_path::text, due_on, created_by, (SELECT org_id FROM accounts WHERE id = created_by)
            FROM assessment_campaigns WHERE id = $1
            """, campaignID) else { throw APIError.notFound("assessment campaign") }
        let template = try FormTemplates.current(db, .A)
        let (lo, hi) = bounds(chunk: k, of: total)
        let row = try db.queryRow("""
            WITH cand AS (
                SELECT i.id AS introduction_id, i.member_id, i.status, m.exemption, i.workplace_id, i.workplace_path, i.commune_id, i.commune_path
                FROM introductions i JOIN members m ON m.id = i.member_id
                WHERE i.status IN ('sent', 'received', 'assigned', 'active') AND m.workplace_path <@ $1::ltree
                  AND i.id >= $2 AND ($3::uuid IS NULL OR i.id < $3::uuid)
            ), elig AS (
                SELECT * FROM cand WHERE status = 'active' AND exemption = 'none'
            ), due AS (
                -- The policy is looked up once per commune, not once per member.
                SELECT commune_id, LEAST(hcm_today() + COALESCE(policy_days(commune_id, 'request_forward'), 7), $4::date) AS due_on
                FROM (SELECT DISTINCT commune_id FROM elig) x
            ), ins AS (
                INSERT INTO assessment_requests (member_id, introduction_id, purpose, year, campaign_id, form_variant, form_version, needed_by,
                    requester_org_id, commune_id, requester_path, commune_path, status, awaiting_org_id, due_on, created_by)
                SELECT e.member_id, e.introduction_id, 'annual', $5::int, $6, 'A', $7::int, $4::date, e.workplace_id, e.commune_id,
                       e.workplace_path, e.commune_path, 'requested', e.commune_id, d.due_on, $8
                FROM elig e JOIN due d USING (commune_id)
                ON CONFLICT (member_id, year) WHERE purpose = 'annual' DO NOTHING
                RETURNING id, requester_org_id, commune_id
            ), ev AS (
                INSERT INTO events (type, entity_type, entity_id, org_ids, actor_account_id, acting_for_org_id, request_id, data)
                SELECT 'assessment_request.created', 'assessment_request', id, ARRAY[requester_org_id, commune_id], $8, $9, NULL,
                       jsonb_build_object('purpose', 'annual', 'campaign_id', $6::uuid, 'form_variant', 'A')
                FROM ins
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM cand), (SELECT count(*) FROM elig),
                   (SELECT count(*) FROM cand WHERE status = 'active' AND exemption = 'activities'),
                   (SELECT count(*) FROM cand WHERE status <> 'active'),
                   (SELECT count(*) FROM ev)
            """, try c.decode(String.self, 1), lo, hi, try c.decode(PGDate.self, 2), try c.decode(Int.self, 0), campaignID,
            template.version, try c.decode(UUID?.self, 3), try c.decode(UUID?.self, 4))!
        return Counts(candidates: try row.decode(Int.self, 0), eligible: try row.decode(Int.self, 1), created: try row.decode(Int.self, 4),
                      skippedExempt: try row.decode(Int.self, 2), skippedNotActive: try row.decode(Int.self, 3))
    }

    /// Runs the next chunk of a running campaign and records it; returns false when nothing is left.
    /// The campaign row is locked for the chunk, so two instances never run the same chunk.
    static func step(_ db: Connection, campaignID: UUID) throws -> Bool {
        try db.transaction { db -> Bool in
            guard let row = try db.queryRow("""
                SELECT chunks_done, chunks_total FROM assessment_campaigns WHERE id = $1 AND status = 'running' FOR UPDATE
                """, campaignID) else { return false }
            let done = try row.decode(Int.self, 0), total = try row.decode(Int.self, 1)
            guard done < total else { return false }
            let n = try run(db, campaignID: campaignID, chunk: done, of: total)
            let last = done + 1 == total
            try db.execute("""
                UPDATE assessment_campaigns SET chunks_done = chunks_done + 1, candidates = candidates + $2, eligible = eligible + $3,
                    created = created + $4, skipped_exempt = skipped_exempt + $5, skipped_existing = skipped_existing + $6,
                    skipped_not_active = skipped_not_active + $7, updated_at = now(), version = version + 1
                    \(last ? ", status = 'done', finished_at = now()" : "")
                WHERE id = $1
                """, campaignID, n.candidates, n.eligible, n.created, n.skippedExempt, n.eligible - n.created, n.skippedNotActive)
            if last {
                let c = try db.queryRow("SELECT org_id, created, skipped_exempt, skipped_existing FROM assessment_campaigns WHERE id = $1", campaignID)!
                try EventLog.append(db, type: "assessment_campaign.completed", entityType: "assessment_campaign", entityID: campaignID,
                                    orgIDs: [try c.decode(UUID.self, 0)], actor: nil, requestID: nil,
                                    data: ["created": try c.decode(Int.self, 1), "skipped_exempt": try c.decode(Int.self, 2),
                                           "skipped_existing": try c.decode(Int.self, 3)])
            }
            return !last
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
