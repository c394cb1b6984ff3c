-- Background exports (issue 7 item 3): `POST /v1/exports` names a list or report (a GET path of
-- this API) and a format; a background worker runs that request with the rights of the token that
-- asked, in one REPEATABLE READ transaction (the file is one consistent snapshot), and stores the
-- file here in chunks, so any instance can serve the download and a restart loses nothing.
--
-- Who may read an export: the account that created it (the file holds what that account could
-- see, personal data included). A claimed export is row-locked by its worker for the whole run;
-- `lease_until` lets another worker take over after the holder died (its transaction aborted, so
-- no half-written file survives).
CREATE TABLE exports (
    id           uuid PRIMARY KEY DEFAULT uuid_v7(),
    account_id   uuid NOT NULL REFERENCES accounts (id),
    token_id     uuid NOT NULL,
    org_id       uuid NOT NULL,
    path         text NOT NULL CHECK (path LIKE '/v1/%' AND length(path) <= 2048),
    format       text NOT NULL CHECK (format IN ('csv', 'xlsx')),
    filename     text NOT NULL,
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed', 'expired')),
    attempts     int NOT NULL DEFAULT 0,
    lease_until  timestamptz,
    bytes        bigint,
    sha256       text,
    error        jsonb,
    request_id   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    expires_at   timestamptz NOT NULL,
    version      int NOT NULL DEFAULT 1
);
CREATE INDEX exports_account ON exports (account_id, created_at, id);
CREATE INDEX exports_pending ON exports (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX exports_expiry ON exports (expires_at) WHERE status IN ('done', 'failed');

CREATE TABLE export_chunks (
    export_id uuid NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    seq       int NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (export_id, seq)
);
-- Chunks are already compressed (XLSX) or written once and read whole: no TOAST compression pass.
ALTER TABLE export_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
