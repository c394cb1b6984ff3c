-- Registry and access: the organization tree, the member register, accounts and tokens, stored
-- idempotent responses, and the append-only event log every later state change writes to.

-- Accent- and case-insensitive search key: Vietnamese names are searched without diacritics
-- ("nguyen van duc" finds "Nguyễn Văn Đức"). unaccent() is only STABLE (it reads a dictionary), so
-- an IMMUTABLE wrapper naming the dictionary explicitly is needed for indexes.
CREATE FUNCTION search_key(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(public.unaccent('public.unaccent'::regdictionary, t));

-- ltree label of an organization: its id without dashes, prefixed (labels may not start with a
-- digit in older ltree versions and must match [A-Za-z0-9_]).
CREATE FUNCTION org_label(id uuid) RETURNS ltree
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN text2ltree('o' || replace(id::text, '-', ''));

CREATE TABLE organizations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    parent_id       uuid REFERENCES organizations (id),
    -- Materialized path from the root to this node (inclusive); subtree = path <@ ancestor.path.
    path            ltree NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('central', 'province', 'directly_subordinate', 'district',
                        'commune', 'grassroots_committee', 'grassroots_branch', 'partial_committee', 'branch')),
    sector          text NOT NULL CHECK (sector IN ('central', 'province', 'commune', 'ward', 'special_zone',
                        'agency', 'enterprise_state', 'enterprise_jsc', 'enterprise_private', 'enterprise_fdi',
                        'public_service', 'army', 'police', 'other')),
    code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    valid_from      date NOT NULL DEFAULT CURRENT_DATE,
    valid_to        date,
    merged_into_id  uuid REFERENCES organizations (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK ((parent_id IS NULL) = (kind = 'central'))
);
CREATE INDEX organizations_path_gist ON organizations USING gist (path);
CREATE INDEX organizations_parent ON organizations (parent_id);
CREATE INDEX organizations_name_trgm ON organizations USING gin (search_key(name) gin_trgm_ops);

CREATE TABLE members (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    party_card_number     text NOT NULL UNIQUE CHECK (party_card_number ~ '^[0-9A-Za-z.-]{4,20}$'),
    full_name             text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    sex                   text NOT NULL CHECK (sex IN ('male', 'female')),
    birth_date            date NOT NULL,
    admitted_on           date,
    full_member_on        date,
    workplace_org_id      uuid NOT NULL REFERENCES organizations (id),
    -- Copy of the workplace's path so subtree scoping is one index condition; kept in step by the
    -- organization move/merge operations in the same transaction.
    workplace_path        ltree NOT NULL,
    residence_province_id uuid REFERENCES organizations (id),
    residence_commune_id  uuid REFERENCES organizations (id),
    residence_address     text CHECK (residence_address IS NULL OR length(residence_address) <= 500),
    exemption             text NOT NULL DEFAULT 'none' CHECK (exemption IN ('none', 'activities', 'introduction')),
    exemption_ground      text CHECK (exemption_ground IS NULL OR length(exemption_ground) <= 500),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    version               integer NOT NULL DEFAULT 1,
    CHECK (exemption = 'none' OR exemption_ground IS NOT NULL),
    CHECK (full_member_on IS NULL OR admitted_on IS NULL OR full_member_on >= admitted_on)
);
CREATE INDEX members_workplace_path_gist ON members USING gist (workplace_path);
CREATE INDEX members_workplace ON members (workplace_org_id);
CREATE INDEX members_residence_commune ON members (residence_commune_id);
CREATE INDEX members_search_trgm ON members USING gin (search_key(full_name) gin_trgm_ops);

CREATE TABLE accounts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id),
    role        text NOT NULL CHECK (role IN ('officer', 'viewer', 'admin')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    disabled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1
);
CREATE INDEX accounts_org ON accounts (org_id);

-- Bearer tokens: only the SHA-256 of the secret is stored; the secret is shown once.
CREATE TABLE tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id  uuid NOT NULL REFERENCES accounts (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tokens_account ON tokens (account_id);

-- First response of every POST with an Idempotency-Key, replayed for 24 h.
CREATE TABLE idempotency_keys (
    account_id       uuid NOT NULL REFERENCES accounts (id),
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method           text NOT NULL,
    path             text NOT NULL,
    request_hash     bytea NOT NULL,
    state            text NOT NULL CHECK (state IN ('running', 'done')),
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Every state change appends one event in the same transaction. org_ids lists every organization
-- the change involves, for scoped reading (GIN on the array).
CREATE TABLE events (
    sequence           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type               text NOT NULL,
    occurred_at        timestamptz NOT NULL DEFAULT now(),
    entity_type        text NOT NULL,
    entity_id          uuid NOT NULL,
    org_ids            uuid[] NOT NULL,
    actor_account_id   uuid REFERENCES accounts (id),
    acting_for_org_id  uuid REFERENCES organizations (id),
    request_id         text,
    data               jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_org_ids ON events USING gin (org_ids);
CREATE INDEX events_entity ON events (entity_type, entity_id);

-- The root of the tree: the Central Committee. Every other organization is created under it (by an
-- admin of the root, by `branchlink demo`, or by an import).
INSERT INTO organizations (id, parent_id, path, kind, sector, code, name, valid_from)
VALUES ('00000000-0000-4000-8000-000000000001', NULL, org_label('00000000-0000-4000-8000-000000000001'),
        'central', 'central', 'TW', 'Ban Chấp hành Trung ương Đảng', DATE '1930-02-03');
