-- Assessment requests reshaped for a national campaign (issue 6: two million requests inserted at
-- once, bench/campaign.sh), on top of migration 0007 as it landed.
--
-- Time-ordered UUIDs (RFC 9562 version 7: 48 bits of Unix milliseconds, then random bits): rows
-- created together sit together in the primary key and in the events' entity index, so a
-- campaign's inserts append to a few index pages instead of touching (and logging) every one.
CREATE OR REPLACE FUNCTION uuid_v7() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    RETURN encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1), 52, 1), 53, 1), 'hex')::uuid;

-- Organizations by id only (btree; lists take the caller's subtree as an array of ids, a single
-- row's paths come from a join), no path copies to rewrite on reorganizations, and no foreign keys
-- to introductions, members or organizations: each such check locks the referenced row, one WAL
-- record per request, which cost more than the inserts themselves. Those rows are never deleted
-- (organizations are closed, introductions end), and requests are only ever created from the live
-- introduction they name, read in the same statement. `awaiting_org_id` is checked against the
-- involved organizations instead.
ALTER TABLE assessment_requests
    ALTER COLUMN id SET DEFAULT uuid_v7(),
    DROP CONSTRAINT IF EXISTS assessment_requests_member_id_fkey,
    DROP CONSTRAINT IF EXISTS assessment_requests_introduction_id_fkey,
    DROP CONSTRAINT IF EXISTS assessment_requests_requester_org_id_fkey,
    DROP CONSTRAINT IF EXISTS assessment_requests_commune_id_fkey,
    DROP CONSTRAINT IF EXISTS assessment_requests_branch_id_fkey,
    DROP CONSTRAINT IF EXISTS assessment_requests_awaiting_org_id_fkey,
    DROP COLUMN requester_path,
    DROP COLUMN commune_path,
    DROP COLUMN branch_path,
    ADD CONSTRAINT assessment_requests_awaiting_org_id_check
        CHECK (awaiting_org_id IS NULL OR awaiting_org_id IN (requester_org_id, commune_id, branch_id)),
    -- The year of an annual request, NULL for the others: with the member it is unique (one annual
    -- request per member and year, whatever became of it, so re-running a campaign never
    -- duplicates, even concurrently), and the same index finds a member's requests.
    ADD COLUMN annual_year integer GENERATED ALWAYS AS (CASE WHEN purpose = 'annual' THEN year END) STORED;

DROP INDEX assessment_requests_one_annual;
DROP INDEX assessment_requests_member;
ALTER TABLE assessment_requests ADD CONSTRAINT assessment_requests_one_annual UNIQUE (member_id, annual_year);
CREATE INDEX assessment_requests_requester ON assessment_requests (requester_org_id);
CREATE INDEX assessment_requests_commune ON assessment_requests (commune_id);
CREATE INDEX assessment_requests_branch ON assessment_requests (branch_id) WHERE branch_id IS NOT NULL;
CREATE INDEX assessment_requests_meeting ON assessment_requests (meeting_id) WHERE meeting_id IS NOT NULL;

-- Generation runs in chunks, each committed with its counts, so a campaign interrupted by a restart
-- resumes with the chunks not done, counting nothing twice: chunks (ranges of introduction ids)
-- claimed with SKIP LOCKED by any worker of any instance, and the due date of the first step per
-- commune, computed once per campaign.
CREATE TABLE assessment_campaign_chunks (
    campaign_id  uuid NOT NULL REFERENCES assessment_campaigns (id),
    chunk        integer NOT NULL,
    done_at      timestamptz,
    PRIMARY KEY (campaign_id, chunk)
);
CREATE TABLE assessment_campaign_dues (
    campaign_id  uuid NOT NULL REFERENCES assessment_campaigns (id),
    commune_id   uuid NOT NULL,
    due_on       date NOT NULL,
    PRIMARY KEY (campaign_id, commune_id)
);
