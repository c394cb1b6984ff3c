-- Introductions (the member's residence link) and change notices: the workplace → residence path,
-- with deadline policies and the items waiting on each organization (the inbox).

-- Days allowed for each waiting step, per organization, inherited down the tree: the nearest
-- ancestor (or self) row with a non-null value wins. The regulations name no day counts, so the
-- root carries defaults and provinces override them.
CREATE TABLE deadline_policies (
    org_id                    uuid PRIMARY KEY REFERENCES organizations (id),
    introduction_receive      integer CHECK (introduction_receive BETWEEN 1 AND 365),
    introduction_assign       integer CHECK (introduction_assign BETWEEN 1 AND 365),
    introduction_acknowledge  integer CHECK (introduction_acknowledge BETWEEN 1 AND 365),
    notice_acknowledge        integer CHECK (notice_acknowledge BETWEEN 1 AND 365),
    request_forward           integer CHECK (request_forward BETWEEN 1 AND 365),
    form_submit               integer CHECK (form_submit BETWEEN 1 AND 365),
    form_confirm              integer CHECK (form_confirm BETWEEN 1 AND 365),
    result_close              integer CHECK (result_close BETWEEN 1 AND 365),
    reintroduce               integer CHECK (reintroduce BETWEEN 1 AND 365),
    due_soon_days             integer CHECK (due_soon_days BETWEEN 0 AND 60),
    escalate_after_days       integer CHECK (escalate_after_days BETWEEN 1 AND 365),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    version                   integer NOT NULL DEFAULT 1
);
INSERT INTO deadline_policies (org_id, introduction_receive, introduction_assign, introduction_acknowledge,
    notice_acknowledge, request_forward, form_submit, form_confirm, result_close, reintroduce, due_soon_days, escalate_after_days)
VALUES ('00000000-0000-4000-8000-000000000001', 10, 10, 15, 10, 7, 20, 7, 10, 30, 3, 7);

-- Letter numbers run per issuing committee and year: "12-GGT/ĐU".
CREATE TABLE letter_counters (
    org_id  uuid NOT NULL REFERENCES organizations (id),
    year    integer NOT NULL,
    last    integer NOT NULL,
    PRIMARY KEY (org_id, year)
);

CREATE TABLE introductions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number              text NOT NULL,
    year                integer NOT NULL,
    member_id           uuid NOT NULL REFERENCES members (id),
    workplace_id        uuid NOT NULL REFERENCES organizations (id),
    commune_id          uuid NOT NULL REFERENCES organizations (id),
    branch_id           uuid REFERENCES organizations (id),
    -- Paths of the organizations involved (copies, kept in step by reorganizations), so that
    -- "visible to every organization it involves and their ancestors" is three index conditions.
    workplace_path      ltree NOT NULL,
    commune_path        ltree NOT NULL,
    branch_path         ltree,
    status              text NOT NULL CHECK (status IN ('sent', 'received', 'assigned', 'active', 'returned', 'withdrawn', 'ended')),
    exemption_marker    boolean NOT NULL DEFAULT false,
    note                text CHECK (note IS NULL OR length(note) <= 2000),
    return_reason_code  text CHECK (return_reason_code IS NULL OR return_reason_code IN ('wrong_address', 'not_resident', 'other')),
    return_reason       text CHECK (return_reason IS NULL OR length(return_reason) <= 2000),
    withdraw_reason     text CHECK (withdraw_reason IS NULL OR length(withdraw_reason) <= 2000),
    end_reason          text,
    ended_by_notice_id  uuid,
    awaiting_org_id     uuid REFERENCES organizations (id),
    due_on              date,
    received_on         date,
    assigned_on         date,
    acknowledged_on     date,
    ended_on            date,
    created_by          uuid REFERENCES accounts (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    UNIQUE (workplace_id, year, number),
    CHECK ((awaiting_org_id IS NULL) = (due_on IS NULL))
);
-- At most one live introduction per member, enforced by the database under concurrency.
CREATE UNIQUE INDEX introductions_one_live ON introductions (member_id)
    WHERE status IN ('sent', 'received', 'assigned', 'active');
CREATE INDEX introductions_awaiting ON introductions (awaiting_org_id, due_on) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX introductions_workplace_path ON introductions USING gist (workplace_path);
CREATE INDEX introductions_commune_path ON introductions USING gist (commune_path);
CREATE INDEX introductions_branch_path ON introductions USING gist (branch_path);
CREATE INDEX introductions_member ON introductions (member_id);

CREATE TABLE change_notices (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id          uuid NOT NULL REFERENCES members (id),
    introduction_id    uuid NOT NULL REFERENCES introductions (id),
    kind               text NOT NULL CHECK (kind IN ('position_change', 'work_transfer', 'expelled', 'removed', 'left_party',
                           'disciplined', 'residence_change', 'retired', 'deceased', 'exemption_change', 'data_correction')),
    effective_on       date NOT NULL,
    decision_ref       text CHECK (decision_ref IS NULL OR length(decision_ref) <= 200),
    reason             text CHECK (reason IS NULL OR length(reason) <= 2000),
    details            jsonb NOT NULL DEFAULT '{}'::jsonb,
    status             text NOT NULL CHECK (status IN ('sent', 'acknowledged')),
    workplace_id       uuid NOT NULL REFERENCES organizations (id),
    commune_id         uuid NOT NULL REFERENCES organizations (id),
    branch_id          uuid REFERENCES organizations (id),
    workplace_path     ltree NOT NULL,
    commune_path       ltree NOT NULL,
    branch_path        ltree,
    awaiting_org_id    uuid REFERENCES organizations (id),
    due_on             date,
    acknowledged_on    date,
    acknowledged_by    uuid REFERENCES organizations (id),
    acknowledge_note   text CHECK (acknowledge_note IS NULL OR length(acknowledge_note) <= 2000),
    created_by         uuid REFERENCES accounts (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            integer NOT NULL DEFAULT 1,
    CHECK ((awaiting_org_id IS NULL) = (due_on IS NULL))
);
CREATE INDEX change_notices_awaiting ON change_notices (awaiting_org_id, due_on) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX change_notices_member ON change_notices (member_id);
CREATE INDEX change_notices_workplace_path ON change_notices USING gist (workplace_path);
CREATE INDEX change_notices_commune_path ON change_notices USING gist (commune_path);

-- Work a notice creates for the sending side: "introduce to the new commune" after a residence
-- change, "re-introduce" for the new committee after a transfer.
CREATE TABLE workplace_tasks (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind              text NOT NULL CHECK (kind IN ('introduce_new_commune', 'reintroduce_after_transfer')),
    member_id         uuid NOT NULL REFERENCES members (id),
    source_notice_id  uuid NOT NULL REFERENCES change_notices (id),
    awaiting_org_id   uuid REFERENCES organizations (id),
    due_on            date,
    done_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((awaiting_org_id IS NULL) = (due_on IS NULL))
);
CREATE INDEX workplace_tasks_awaiting ON workplace_tasks (awaiting_org_id, due_on) WHERE awaiting_org_id IS NOT NULL;

-- Calendar dates of the service are dates in Asia/Ho_Chi_Minh, whatever the server's time zone.
CREATE FUNCTION hcm_today() RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date;

-- Effective days for a step at an organization: the nearest ancestor-or-self policy that sets it.
CREATE FUNCTION policy_days(target uuid, step text) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT v FROM (
        SELECT nlevel(a.path) AS depth,
               CASE step
                   WHEN 'introduction_receive' THEN p.introduction_receive
                   WHEN 'introduction_assign' THEN p.introduction_assign
                   WHEN 'introduction_acknowledge' THEN p.introduction_acknowledge
                   WHEN 'notice_acknowledge' THEN p.notice_acknowledge
                   WHEN 'request_forward' THEN p.request_forward
                   WHEN 'form_submit' THEN p.form_submit
                   WHEN 'form_confirm' THEN p.form_confirm
                   WHEN 'result_close' THEN p.result_close
                   WHEN 'reintroduce' THEN p.reintroduce
                   WHEN 'due_soon_days' THEN p.due_soon_days
                   WHEN 'escalate_after_days' THEN p.escalate_after_days
               END AS v
        FROM deadline_policies p
        JOIN organizations a ON a.id = p.org_id
        WHERE a.path @> (SELECT path FROM organizations WHERE id = target)
    ) s
    WHERE v IS NOT NULL
    ORDER BY depth DESC
    LIMIT 1
$$;
