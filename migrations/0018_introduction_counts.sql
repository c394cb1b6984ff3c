-- Introduction counts per commune and per workplace organization, for the coverage report of a
-- province or the country (issue 7 item 1). The heaviest province of the national data has
-- 166,000 introductions; reading them for each report from introductions_commune_cover took ~85 ms
-- of a ~270 ms report (p95 389 ms against a 300 ms target). Kept in step like member_counts
-- (migration 0017): statement-level triggers upsert the aggregated changes of each statement in
-- the writer's transaction; an update that moves no count (a note, a due date) writes nothing.
-- The counter rows an action changes stay locked until it commits; every write already waits on
-- the audit chain's lock (migration 0011), so this adds no new point of contention.
-- Reports of a commune or a branch still read the introductions themselves (a few thousand; and
-- those not yet assigned to a branch have no branch counter to come from).
CREATE TABLE introduction_counts (
    side              text NOT NULL CHECK (side IN ('commune', 'workplace')),
    org_id            uuid NOT NULL,
    status            text NOT NULL,
    exemption_marker  boolean NOT NULL,
    n                 bigint NOT NULL,
    PRIMARY KEY (side, org_id, status, exemption_marker)
);

CREATE FUNCTION introduction_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Rows in key order, so that two statements upserting the same counters lock them in the
    -- same order.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO introduction_counts AS c (side, org_id, status, exemption_marker, n)
        SELECT side, org_id, status, marker, sum(d) FROM (
            SELECT 'commune' AS side, commune_id AS org_id, status, exemption_marker AS marker, 1 AS d FROM new_rows
            UNION ALL SELECT 'workplace', workplace_id, status, exemption_marker, 1 FROM new_rows) x
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (side, org_id, status, exemption_marker) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO introduction_counts AS c (side, org_id, status, exemption_marker, n)
        SELECT side, org_id, status, marker, sum(d) FROM (
            SELECT 'commune' AS side, n.commune_id AS org_id, n.status, n.exemption_marker AS marker, 1 AS d
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.commune_id, n.status, n.exemption_marker) IS DISTINCT FROM (o.commune_id, o.status, o.exemption_marker)
            UNION ALL SELECT 'commune', o.commune_id, o.status, o.exemption_marker, -1
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.commune_id, n.status, n.exemption_marker) IS DISTINCT FROM (o.commune_id, o.status, o.exemption_marker)
            UNION ALL SELECT 'workplace', n.workplace_id, n.status, n.exemption_marker, 1
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.workplace_id, n.status, n.exemption_marker) IS DISTINCT FROM (o.workplace_id, o.status, o.exemption_marker)
            UNION ALL SELECT 'workplace', o.workplace_id, o.status, o.exemption_marker, -1
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.workplace_id, n.status, n.exemption_marker) IS DISTINCT FROM (o.workplace_id, o.status, o.exemption_marker)) x
        GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (side, org_id, status, exemption_marker) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO introduction_counts AS c (side, org_id, status, exemption_marker, n)
        SELECT side, org_id, status, marker, sum(d) FROM (
            SELECT 'commune' AS side, commune_id AS org_id, status, exemption_marker AS marker, -1 AS d FROM old_rows
            UNION ALL SELECT 'workplace', workplace_id, status, exemption_marker, -1 FROM old_rows) x
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (side, org_id, status, exemption_marker) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER introduction_counts_insert AFTER INSERT ON introductions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION introduction_counts_apply();
CREATE TRIGGER introduction_counts_update AFTER UPDATE ON introductions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION introduction_counts_apply();
CREATE TRIGGER introduction_counts_delete AFTER DELETE ON introductions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION introduction_counts_apply();

-- The introductions already there (the triggers count every later change).
INSERT INTO introduction_counts (side, org_id, status, exemption_marker, n)
SELECT 'commune', commune_id, status, exemption_marker, count(*) FROM introductions GROUP BY 2, 3, 4
UNION ALL
SELECT 'workplace', workplace_id, status, exemption_marker, count(*) FROM introductions GROUP BY 2, 3, 4;
