-- Member counts per organization for the coverage report (issue 7 item 1; the report and its
-- covering indexes are migration 0010). Members are the largest source of a province report
-- (161,765 in a province of the national data, every one read for each report over
-- members_residence_cover), and they change seldom (registrations, imports, transfers, exemption
-- and residence changes), so their counts per organization are kept in step with the table by
-- statement-level triggers: one upsert of the aggregated changes of each statement, in the
-- writer's transaction. An update that does not move a member between counts (a name, a birth
-- date) writes nothing. The price: a write that moves counts holds the counter rows it changed
-- (one per organization and exemption) until it commits, so concurrent registrations into the
-- same organization wait for each other.
--
-- Introductions stay counted from their covering indexes (their actions are frequent, concurrent
-- and spread over many transactions that would contend on counter rows), and assessment requests
-- from their org-id indexes: counters or wider indexes there slow the national campaign's two
-- million inserts (bench/campaign.sh).
CREATE TABLE IF NOT EXISTS member_counts (
    side       text NOT NULL CHECK (side IN ('workplace', 'residence')),
    -- The workplace organization, or the residence commune.
    org_id     uuid NOT NULL,
    exemption  text NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (side, org_id, exemption)
);

CREATE OR REPLACE FUNCTION member_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Rows in key order, so that two statements upserting the same counters lock them in the
    -- same order.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO member_counts AS c (side, org_id, exemption, n)
        SELECT side, org_id, exemption, sum(d) FROM (
            SELECT 'workplace' AS side, workplace_org_id AS org_id, exemption, 1 AS d FROM new_rows
            UNION ALL SELECT 'residence', residence_commune_id, exemption, 1 FROM new_rows WHERE residence_commune_id IS NOT NULL) x
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (side, org_id, exemption) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO member_counts AS c (side, org_id, exemption, n)
        SELECT side, org_id, exemption, sum(d) FROM (
            SELECT 'workplace' AS side, n.workplace_org_id AS org_id, n.exemption, 1 AS d
            FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE (n.workplace_org_id, n.exemption) IS DISTINCT FROM (o.workplace_org_id, o.exemption)
            UNION ALL SELECT 'workplace', o.workplace_org_id, o.exemption, -1
            FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE (n.workplace_org_id, n.exemption) IS DISTINCT FROM (o.workplace_org_id, o.exemption)
            UNION ALL SELECT 'residence', n.residence_commune_id, n.exemption, 1
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.residence_commune_id IS NOT NULL AND (n.residence_commune_id, n.exemption) IS DISTINCT FROM (o.residence_commune_id, o.exemption)
            UNION ALL SELECT 'residence', o.residence_commune_id, o.exemption, -1
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o.residence_commune_id IS NOT NULL AND (n.residence_commune_id, n.exemption) IS DISTINCT FROM (o.residence_commune_id, o.exemption)) x
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (side, org_id, exemption) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO member_counts AS c (side, org_id, exemption, n)
        SELECT side, org_id, exemption, sum(d) FROM (
            SELECT 'workplace' AS side, workplace_org_id AS org_id, exemption, -1 AS d FROM old_rows
            UNION ALL SELECT 'residence', residence_commune_id, exemption, -1 FROM old_rows WHERE residence_commune_id IS NOT NULL) x
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (side, org_id, exemption) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS member_counts_insert ON members;
DROP TRIGGER IF EXISTS member_counts_update ON members;
DROP TRIGGER IF EXISTS member_counts_delete ON members;
CREATE TRIGGER member_counts_insert AFTER INSERT ON members REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_counts_apply();
CREATE TRIGGER member_counts_update AFTER UPDATE ON members REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_counts_apply();
CREATE TRIGGER member_counts_delete AFTER DELETE ON members REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_counts_apply();

-- The counts of the members already registered (the triggers count every later change).
TRUNCATE member_counts;
INSERT INTO member_counts (side, org_id, exemption, n)
SELECT 'workplace', workplace_org_id, exemption, count(*) FROM members GROUP BY 2, 3
UNION ALL
SELECT 'residence', residence_commune_id, exemption, count(*) FROM members WHERE residence_commune_id IS NOT NULL GROUP BY 2, 3;
