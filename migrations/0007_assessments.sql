-- Assessments (the residence's yearly and on-demand comments on a working member, issue 6): form
-- templates as data, annual campaigns, requests with their waiting steps, forms, the branch's
-- meetings with the Fatherland Front work committee; and the branch's own residence meetings
-- (attendance) and residence reports to the workplace.
-- (Version 0006 is reserved for the member search index.)

-- The printed form is data, not code: item texts and grade labels by variant and version, with the
-- Vietnamese texts of domain.md §3.4. A request keeps the template version it was created with, so
-- a later edition of the form never changes how an old one prints. `grade_labels[g]` is the label
-- of grade g (1 = best); for the proposal item they are commend / none / consider_handling.
CREATE TABLE assessment_form_items (
    variant       text NOT NULL CHECK (variant IN ('A', 'B')),
    version       integer NOT NULL CHECK (version >= 1),
    item          integer NOT NULL CHECK (item BETWEEN 1 AND 20),
    kind          text NOT NULL CHECK (kind IN ('graded', 'proposal', 'remarks')),
    text_vi       text NOT NULL,
    text_en       text NOT NULL,
    grade_labels  text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (variant, version, item),
    CHECK ((kind = 'remarks') = (cardinality(grade_labels) = 0))
);

INSERT INTO assessment_form_items (variant, version, item, kind, text_vi, text_en, grade_labels) VALUES
('A', 1, 1, 'graded',
 'Giữ gìn phẩm chất chính trị, đạo đức, lối sống; nêu gương trước nhân dân nơi cư trú',
 'Political quality, ethics and lifestyle; setting an example before local residents',
 ARRAY['Nêu gương tốt', 'Nêu gương', 'Chưa nêu gương']),
('A', 1, 2, 'graded',
 'Gương mẫu thực hiện nghĩa vụ công dân và quy định của địa phương; vận động gia đình và nhân dân chấp hành chủ trương của Đảng, chính sách, pháp luật của Nhà nước',
 'Exemplary civic obligations and local rules; persuading family and residents to follow Party and State policy',
 ARRAY['Gương mẫu đi đầu', 'Gương mẫu', 'Chưa gương mẫu']),
('A', 1, 3, 'graded',
 'Tham gia các buổi họp định kỳ và các cuộc họp khác do chi ủy nơi cư trú triệu tập',
 'Attendance at the periodic and other meetings called by the residence branch committee',
 ARRAY['Tham gia đầy đủ', 'Tham gia chưa đầy đủ', 'Không tham gia']),
('A', 1, 4, 'graded',
 'Giữ mối liên hệ thường xuyên với chi ủy, trưởng thôn (tổ trưởng tổ dân phố) và ban công tác Mặt trận nơi cư trú',
 'Regular contact with the branch committee, the village or residential group head and the Front work committee',
 ARRAY['Thường xuyên, tích cực', 'Thường xuyên', 'Chưa thường xuyên']),
('A', 1, 5, 'graded',
 'Tuyên truyền, vận động nhân dân; tham gia các hoạt động ở nơi cư trú',
 'Persuading residents; taking part in local activities',
 ARRAY['Rất tích cực', 'Tích cực', 'Chưa tích cực']),
('A', 1, 6, 'proposal',
 'Đề xuất với cấp ủy nơi đảng viên công tác',
 'Proposal to the workplace committee',
 ARRAY['Biểu dương', 'Không đề nghị', 'Xem xét xử lý']),
('A', 1, 7, 'remarks', 'Nhận xét khác', 'Other comments', '{}'),
('B', 1, 1, 'graded',
 'Giữ gìn phẩm chất chính trị, đạo đức, lối sống; nêu gương trước nhân dân nơi cư trú',
 'Political quality, ethics and lifestyle; setting an example before local residents',
 ARRAY['Nêu gương tốt', 'Nêu gương', 'Chưa nêu gương']),
('B', 1, 2, 'graded',
 'Gương mẫu thực hiện nghĩa vụ công dân; vận động gia đình chấp hành chủ trương của Đảng, chính sách, pháp luật của Nhà nước',
 'Exemplary civic obligations; persuading the family to follow Party and State policy',
 ARRAY['Thực hiện tốt', 'Thực hiện', 'Chưa thực hiện']),
('B', 1, 3, 'graded',
 'Tuyên truyền, vận động nhân dân; tham gia các hoạt động của địa phương khi có điều kiện',
 'Persuading residents; taking part in local activities when able',
 ARRAY['Thực hiện tốt', 'Thực hiện', 'Chưa thực hiện']),
('B', 1, 4, 'remarks', 'Nhận xét khác', 'Other comments', '{}');

-- The annual assessment for one year and one subtree (a workplace committee's, or a whole province).
CREATE TABLE assessment_campaigns (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    year                integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    org_id              uuid NOT NULL REFERENCES organizations (id),
    org_path            ltree NOT NULL,
    due_on              date NOT NULL,
    status              text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    -- Generation runs in chunks (ranges of introduction ids), each committed with its counts, so a
    -- campaign interrupted by a restart resumes at `chunks_done` without counting anything twice.
    chunks_total        integer NOT NULL DEFAULT 1 CHECK (chunks_total >= 1),
    chunks_done         integer NOT NULL DEFAULT 0,
    -- Members of the subtree with a live introduction, and what became of them.
    candidates          integer NOT NULL DEFAULT 0,
    eligible            integer NOT NULL DEFAULT 0,
    created             integer NOT NULL DEFAULT 0,
    skipped_exempt      integer NOT NULL DEFAULT 0,
    skipped_existing    integer NOT NULL DEFAULT 0,
    skipped_not_active  integer NOT NULL DEFAULT 0,
    error               text,
    created_by          uuid REFERENCES accounts (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    version             integer NOT NULL DEFAULT 1
);
CREATE INDEX assessment_campaigns_org_path ON assessment_campaigns USING gist (org_path);
CREATE INDEX assessment_campaigns_running ON assessment_campaigns (created_at) WHERE status = 'running';

-- A meeting of the residential branch committee with the Fatherland Front work committee of the
-- area, at which the comments on one or many members are agreed (Reg. 213 Art. 4 §4).
CREATE TABLE assessment_meetings (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    branch_id        uuid NOT NULL REFERENCES organizations (id),
    commune_id       uuid NOT NULL REFERENCES organizations (id),
    branch_path      ltree NOT NULL,
    commune_path     ltree NOT NULL,
    held_on          date NOT NULL,
    location         text CHECK (location IS NULL OR length(location) <= 300),
    notes            text CHECK (notes IS NULL OR length(notes) <= 4000),
    -- Kept with the attendees in one transaction: the submit check reads one column.
    front_attendees  integer NOT NULL DEFAULT 0,
    created_by       uuid REFERENCES accounts (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1
);
CREATE INDEX assessment_meetings_branch ON assessment_meetings (branch_id, held_on);
CREATE INDEX assessment_meetings_commune_path ON assessment_meetings USING gist (commune_path);

CREATE TABLE assessment_meeting_attendees (
    meeting_id  uuid NOT NULL REFERENCES assessment_meetings (id),
    position    integer NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    side        text NOT NULL CHECK (side IN ('branch_committee', 'front_committee', 'other')),
    title       text CHECK (title IS NULL OR length(title) <= 200),
    PRIMARY KEY (meeting_id, position)
);

CREATE TABLE assessment_meeting_members (
    meeting_id  uuid NOT NULL REFERENCES assessment_meetings (id),
    member_id   uuid NOT NULL REFERENCES members (id),
    PRIMARY KEY (meeting_id, member_id)
);
CREATE INDEX assessment_meeting_members_member ON assessment_meeting_members (member_id);

-- workplace → commune → branch → commune → workplace. The requester is the workplace side (or the
-- personnel body running a procedure); paths are copies, like introductions', so visibility is
-- three index conditions.
CREATE TABLE assessment_requests (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id          uuid NOT NULL REFERENCES members (id),
    introduction_id    uuid NOT NULL REFERENCES introductions (id),
    purpose            text NOT NULL CHECK (purpose IN ('annual', 'admission', 'full_membership', 'appointment',
                           'committee_personnel', 'reward', 'discipline', 'other')),
    year               integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    campaign_id        uuid REFERENCES assessment_campaigns (id),
    confidential       boolean NOT NULL DEFAULT false,
    form_variant       text NOT NULL CHECK (form_variant IN ('A', 'B')),
    form_version       integer NOT NULL,
    needed_by          date NOT NULL,
    note               text CHECK (note IS NULL OR length(note) <= 2000),
    requester_org_id   uuid NOT NULL REFERENCES organizations (id),
    commune_id         uuid NOT NULL REFERENCES organizations (id),
    branch_id          uuid REFERENCES organizations (id),
    requester_path     ltree NOT NULL,
    commune_path       ltree NOT NULL,
    branch_path        ltree,
    status             text NOT NULL CHECK (status IN ('requested', 'forwarded', 'submitted', 'confirmed', 'closed', 'cancelled')),
    awaiting_org_id    uuid REFERENCES organizations (id),
    due_on             date,
    meeting_id         uuid REFERENCES assessment_meetings (id),
    send_back_count    integer NOT NULL DEFAULT 0,
    send_back_reason   text CHECK (send_back_reason IS NULL OR length(send_back_reason) <= 2000),
    cancel_reason      text CHECK (cancel_reason IS NULL OR length(cancel_reason) <= 2000),
    close_note         text CHECK (close_note IS NULL OR length(close_note) <= 2000),
    forwarded_on       date,
    submitted_on       date,
    confirmed_on       date,
    closed_on          date,
    cancelled_on       date,
    created_by         uuid REFERENCES accounts (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            integer NOT NULL DEFAULT 1,
    CHECK ((awaiting_org_id IS NULL) = (due_on IS NULL)),
    -- Annual requests are never for activities-exempt members (variant B) and never confidential.
    CHECK (purpose <> 'annual' OR (form_variant = 'A' AND NOT confidential AND campaign_id IS NOT NULL))
);
-- One annual request per member and year, whatever became of it: re-running a campaign never
-- duplicates, even concurrently.
CREATE UNIQUE INDEX assessment_requests_one_annual ON assessment_requests (member_id, year) WHERE purpose = 'annual';
CREATE INDEX assessment_requests_awaiting ON assessment_requests (awaiting_org_id, due_on) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX assessment_requests_campaign ON assessment_requests (campaign_id, status) WHERE campaign_id IS NOT NULL;
CREATE INDEX assessment_requests_member ON assessment_requests (member_id);
CREATE INDEX assessment_requests_requester_path ON assessment_requests USING gist (requester_path);
CREATE INDEX assessment_requests_commune_path ON assessment_requests USING gist (commune_path);
CREATE INDEX assessment_requests_branch_path ON assessment_requests USING gist (branch_path);

-- The form of one request: a draft until the request is submitted, then read-only unless sent back.
CREATE TABLE assessment_forms (
    request_id  uuid PRIMARY KEY REFERENCES assessment_requests (id),
    variant           text NOT NULL CHECK (variant IN ('A', 'B')),
    template_version  integer NOT NULL,
    -- {"1": 1, "2": 3, ...}: item number → grade (1 = best).
    grades      jsonb NOT NULL DEFAULT '{}'::jsonb,
    proposal    text CHECK (proposal IS NULL OR proposal IN ('commend', 'none', 'consider_handling')),
    remarks     text CHECK (remarks IS NULL OR length(remarks) <= 4000),
    updated_by  uuid REFERENCES accounts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1,
    CHECK (variant = 'A' OR proposal IS NULL)
);

-- The branch's periodic meetings with its working members (Art. 4 §3: every 6 months or when
-- needed), with attendance per member.
CREATE TABLE residence_meetings (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    branch_id     uuid NOT NULL REFERENCES organizations (id),
    commune_id    uuid NOT NULL REFERENCES organizations (id),
    branch_path   ltree NOT NULL,
    commune_path  ltree NOT NULL,
    held_on       date NOT NULL,
    topic         text NOT NULL CHECK (length(topic) BETWEEN 1 AND 500),
    created_by    uuid REFERENCES accounts (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer NOT NULL DEFAULT 1
);
CREATE INDEX residence_meetings_branch ON residence_meetings (branch_id, held_on);
CREATE INDEX residence_meetings_commune_path ON residence_meetings USING gist (commune_path);

CREATE TABLE residence_meeting_attendance (
    meeting_id   uuid NOT NULL REFERENCES residence_meetings (id),
    member_id    uuid NOT NULL REFERENCES members (id),
    status       text NOT NULL CHECK (status IN ('present', 'excused', 'absent')),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_id, member_id)
);
CREATE INDEX residence_meeting_attendance_member ON residence_meeting_attendance (member_id);

-- Branch → the member's workplace committee: a commendation or a breach of conduct (Art. 4 §5),
-- acknowledged by the workplace with a response. It waits `notice_acknowledge` days: like a change
-- notice, it is a message about a member to be read and answered.
CREATE TABLE residence_reports (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id         uuid NOT NULL REFERENCES members (id),
    introduction_id   uuid NOT NULL REFERENCES introductions (id),
    kind              text NOT NULL CHECK (kind IN ('commendation', 'breach')),
    summary           text NOT NULL CHECK (length(summary) BETWEEN 1 AND 4000),
    occurred_on       date,
    workplace_id      uuid NOT NULL REFERENCES organizations (id),
    commune_id        uuid NOT NULL REFERENCES organizations (id),
    branch_id         uuid NOT NULL REFERENCES organizations (id),
    workplace_path    ltree NOT NULL,
    commune_path      ltree NOT NULL,
    branch_path       ltree NOT NULL,
    status            text NOT NULL CHECK (status IN ('sent', 'acknowledged')),
    response          text CHECK (response IS NULL OR length(response) <= 4000),
    acknowledged_on   date,
    awaiting_org_id   uuid REFERENCES organizations (id),
    due_on            date,
    created_by        uuid REFERENCES accounts (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1,
    CHECK ((awaiting_org_id IS NULL) = (due_on IS NULL))
);
CREATE INDEX residence_reports_awaiting ON residence_reports (awaiting_org_id, due_on) WHERE awaiting_org_id IS NOT NULL;
CREATE INDEX residence_reports_member ON residence_reports (member_id);
CREATE INDEX residence_reports_workplace_path ON residence_reports USING gist (workplace_path);
CREATE INDEX residence_reports_commune_path ON residence_reports USING gist (commune_path);
