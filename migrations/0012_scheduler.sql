-- Overdue monitoring (issue 7 item 2): the scheduler's exactly-once bookkeeping of reminders, and
-- escalations into the inbox of the parent of the organization an item waits on.

-- One row per reminder sent: (item kind, item id, step identity, reminder kind). The scheduler
-- inserts it with ON CONFLICT DO NOTHING in the same statement that appends the event, and appends
-- the event only for rows it actually inserted, so re-ticks and other instances never repeat one.
-- `step_key` identifies one wait of an item: its step, the send-back round (assessment requests) and
-- its due date, so a new wait on the same item (sent back and waiting again, a due date moved) has
-- its own reminders. The primary key is also the index of the scheduler's anti-join.
CREATE TABLE reminders (
    item_kind        text NOT NULL,
    item_id          uuid NOT NULL,
    step_key         text NOT NULL,
    reminder         text NOT NULL CHECK (reminder IN ('due_soon', 'overdue', 'escalation')),
    step             text NOT NULL,
    due_on           date NOT NULL,
    awaiting_org_id  uuid NOT NULL,
    -- The scheduler's calendar day (Asia/Ho_Chi_Minh) when it was sent; sent_at is the wall clock.
    as_of            date NOT NULL,
    sent_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_kind, item_id, step_key, reminder)
);

-- An item overdue by `escalate_after_days` (deadline policy) lands in the inbox of the parent of the
-- organization it waits on. Open while `awaiting_org_id` (the parent) is set; the parent acknowledges
-- it (POST /v1/escalations/{id}/acknowledge), or the scheduler resolves it once the item no longer
-- waits in that step (answered, cancelled, sent on, due date moved).
CREATE TABLE escalations (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    item_kind            text NOT NULL,
    item_id              uuid NOT NULL,
    step                 text NOT NULL,
    step_key             text NOT NULL,
    member_id            uuid NOT NULL,
    item_due_on          date NOT NULL,
    days_overdue         integer NOT NULL,
    escalated_on         date NOT NULL,
    waited_org_id        uuid NOT NULL REFERENCES organizations (id),
    escalated_to_org_id  uuid NOT NULL REFERENCES organizations (id),
    -- The organizations of the item (for the feed) and the parent's path (scope: the parent's
    -- subtree holds the organization waited on, so both sides and their ancestors see it).
    org_ids              uuid[] NOT NULL,
    escalated_to_path    ltree NOT NULL,
    status               text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    awaiting_org_id      uuid REFERENCES organizations (id),
    due_on               date,
    note                 text CHECK (note IS NULL OR length(note) <= 2000),
    acknowledged_at      timestamptz,
    acknowledged_by      uuid REFERENCES accounts (id),
    resolved_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              integer NOT NULL DEFAULT 1,
    UNIQUE (item_kind, item_id, step_key),
    CHECK ((awaiting_org_id IS NULL) = (due_on IS NULL)),
    CHECK ((status = 'open') = (awaiting_org_id IS NOT NULL))
);
CREATE INDEX escalations_awaiting ON escalations (awaiting_org_id, due_on) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX escalations_open ON escalations (item_kind, item_id) WHERE status = 'open';
CREATE INDEX escalations_to_path ON escalations USING gist (escalated_to_path);

-- Full passes over the overdue and escalation windows (everything overdue within the look-back)
-- are not repeated on every tick: a step becomes overdue when a day passes (or, rarely, when a due
-- date is set in the past), so a pass per (table, reminder kind) is recorded here and repeated when
-- the day changes or after the re-sweep interval. Only complete passes are recorded.
CREATE TABLE scheduler_sweeps (
    task       text PRIMARY KEY,
    swept_on   date NOT NULL,
    swept_at   timestamptz NOT NULL
);

-- The scheduler finds candidates by a range of due dates over every organization (the existing
-- (awaiting_org_id, due_on) indexes lead with the organization) and pages through them by
-- (due_on, id) from a cursor: one partial btree per waiting table. On assessment_requests it adds
-- one index insert per generated request (measured: see the scheduler's commit and SchedulerTests).
CREATE INDEX introductions_due ON introductions (due_on, id) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX change_notices_due ON change_notices (due_on, id) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX assessment_requests_due ON assessment_requests (due_on, id) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX residence_reports_due ON residence_reports (due_on, id) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX workplace_tasks_due ON workplace_tasks (due_on, id) WHERE awaiting_org_id IS NOT NULL AND done_at IS NULL;
