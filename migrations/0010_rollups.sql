-- Rollups (issue 7 item 1): `GET /v1/reports/coverage` counts members and introductions per child
-- organization straight from these tables. Index-only scans keep a province's rollup (~160,000
-- members, ~60,000 introductions on the national data) within its latency budget: each index
-- carries the columns the counts group by, so the heap is not visited (bench/reports.sh).
--
-- The members' two org-id indexes are replaced by covering ones (same keys, so every query that
-- used them still can); introductions gain btree org-id indexes next to their path (gist) ones.
-- Assessment requests are left alone: an extra or wider index there slows the national campaign's
-- two million inserts (bench/campaign.sh), and their existing org-id indexes suffice.
CREATE INDEX IF NOT EXISTS members_workplace_cover ON members (workplace_org_id) INCLUDE (exemption);
DROP INDEX IF EXISTS members_workplace;
CREATE INDEX IF NOT EXISTS members_residence_cover ON members (residence_commune_id) INCLUDE (exemption);
DROP INDEX IF EXISTS members_residence_commune;
CREATE INDEX IF NOT EXISTS introductions_workplace_cover ON introductions (workplace_id) INCLUDE (status, exemption_marker);
CREATE INDEX IF NOT EXISTS introductions_commune_cover ON introductions (commune_id) INCLUDE (branch_id, status, exemption_marker);
