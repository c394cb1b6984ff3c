-- Audit chain and delegation (issue 7 items 6 and 7).

-- An officer or admin lets another account act for its organization for a bounded period. The
-- delegate sends `Acting-For: <org id>`; every request checks the delegation again (no cache), so a
-- revocation or the end of the period stops it at once on every instance.
CREATE TABLE delegations (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL REFERENCES organizations (id),
    grantor_account_id    uuid NOT NULL REFERENCES accounts (id),
    delegate_account_id   uuid NOT NULL REFERENCES accounts (id),
    valid_from            timestamptz NOT NULL,
    valid_until           timestamptz NOT NULL,
    reason                text CHECK (length(reason) BETWEEN 1 AND 500),
    revoked_at            timestamptz,
    revoked_by_account_id uuid REFERENCES accounts (id),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    version               integer NOT NULL DEFAULT 1,
    CHECK (valid_until > valid_from),
    CHECK (valid_until <= valid_from + interval '1 year'),
    CHECK (delegate_account_id <> grantor_account_id)
);
-- The per-request check: (delegate, org) → the live delegations.
CREATE INDEX delegations_delegate ON delegations (delegate_account_id, org_id, valid_until);
CREATE INDEX delegations_org ON delegations (org_id, created_at, id);

-- Events name the delegation a change was made under (actor_account_id is the delegate,
-- acting_for_org_id the delegating organization).
ALTER TABLE events ADD COLUMN delegation_id uuid;

-- The audit chain: one record per successful write request, appended in the request's own
-- transaction. `sequence` is gapless (previous + 1, taken under an advisory lock); `prev_hash` is
-- the previous record's `hash` (32 zero bytes for the first) and `hash` the SHA-256 of the record's
-- canonical form (Audit/AuditRecord.swift `canonical`), which covers every column but `hash`.
-- No foreign keys: a record must outlive and never block anything it names.
CREATE TABLE audit_records (
    sequence        bigint PRIMARY KEY CHECK (sequence > 0),
    at              timestamptz NOT NULL,
    account_id      uuid,
    account_org_id  uuid,
    org_id          uuid,
    delegation_id   uuid,
    action          text NOT NULL,
    status          integer NOT NULL,
    entity_type     text,
    entity_id       uuid,
    fields          jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id      text,
    body_sha256     bytea NOT NULL CHECK (length(body_sha256) = 32),
    prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash            bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_records_org ON audit_records (org_id, sequence);
CREATE INDEX audit_records_account_org ON audit_records (account_org_id, sequence);
CREATE INDEX audit_records_entity ON audit_records (entity_type, entity_id, sequence);

-- The chain's head for the next append (AuditChain.append), in one round trip: takes the chain's
-- advisory lock (held until the transaction ends), then reads the head in a statement of its own,
-- whose snapshot (READ COMMITTED, VOLATILE) sees the record the previous lock holder committed,
-- and the clock. The record is then hashed by the server and inserted: two statements under the
-- lock. (Hashing here in PL/pgSQL was measured slower: ~1.8 ms per append under the lock.)
CREATE FUNCTION audit_head(OUT head_sequence bigint, OUT head_hash bytea, OUT now_micros bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7092150670025389105);  -- AuditChain.lockKey
    SELECT a.sequence, a.hash INTO head_sequence, head_hash FROM audit_records a ORDER BY a.sequence DESC LIMIT 1;
    now_micros := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
END
$$;

-- Append-only for everyone, the owner included, unless a superuser disables the trigger (which is
-- what /v1/audit/verify then detects).
CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_records is append-only: % rejected', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();

-- The application's role: not the owner of anything (the migrating role owns the tables), so it
-- can neither disable the trigger nor grant itself more. It reads and writes every table, except
-- that on audit_records it may only SELECT and INSERT, and schema_migrations it only reads.
-- `branchlink serve` on the embedded cluster and the tests connect as this role; with an external
-- database, connect the server as branchlink_app (or a member of it) and migrate as the owner.
-- Roles are cluster-wide: created once, tolerated when another database's migration made it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'branchlink_app') THEN
        BEGIN
            CREATE ROLE branchlink_app LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO branchlink_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO branchlink_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO branchlink_app;
-- Tables of later migrations (made by the same migrating role) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO branchlink_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO branchlink_app;
REVOKE ALL ON audit_records FROM branchlink_app;
GRANT SELECT, INSERT ON audit_records TO branchlink_app;
REVOKE ALL ON schema_migrations FROM branchlink_app;
GRANT SELECT ON schema_migrations TO branchlink_app;
