import Foundation
import Postgres

/// The exchanges of a demo province: introductions in every state, change notices of every kind,
/// the workplace tasks that residence changes and transfers leave, some of them overdue.
///
/// Written set-based (INSERT … SELECT over temporary tables), never through the API, inside the
/// caller's transaction, and deterministic: every choice is a hash of the member id and the seed
/// (`hashtextextended`), every id an md5 of the same, every date an offset from the day of loading
/// (so the inbox always holds items due soon and items overdue). Idempotent per province: a marker
/// event `demo.exchanges_loaded` records that a province has them, and members that already have an
/// introduction (made through the API) are left alone.
///
/// Rollout: the pilot province (number 1, where demo.json points) uses Branchlink in every
/// workplace committee; elsewhere about one committee in five (`rolloutShare`, and always the first)
/// does. At national scale (34 provinces, 5.5 M members) that comes to ~1 M live introductions.
/// In a committee that uses it, members exempt from introduction (HD 33 §1.2) are never introduced;
/// of the others ~85 % have an active link, ~10 % wait on the commune or the branch (about half of
/// those overdue), the rest were returned, withdrawn, ended by a change notice, or never introduced.
public enum DemoExchanges {
    /// Share of workplace committees outside the pilot province that use Branchlink.
    public static let rolloutShare = 0.18
    public static let markerEvent = "demo.exchanges_loaded"

    public struct Result: Sendable, Equatable {
        /// False when the province already had its exchanges (nothing was written).
        public var loaded: Bool
        public var introductions: [String: Int] = [:]
        public var notices: [String: Int] = [:]
        public var noticesWaiting = 0
        public var tasksOpen = 0
        public var tasksDone = 0
        public var overdue = 0
        public var seconds = 0.0

        public var live: Int { ["sent", "received", "assigned", "active"].reduce(0) { $0 + introductions[$1, default: 0] } }
        public var introductionCount: Int { introductions.values.reduce(0, +) }
        public var noticeCount: Int { notices.values.reduce(0, +) }
    }

    /// Loads the exchanges of the province `code` unless it has them. Runs inside the caller's
    /// transaction (or its own).
    @discardableResult
    public static func load(_ db: Connection, provinceCode code: String, number: Int, seed: UInt64) throws -> Result {
        let started = ContinuousClock.now
        return try db.transaction { db in
            try db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 213))", "branchlink.demo.exchanges." + code)
            guard let province = try db.queryRow("SELECT id, path::text FROM organizations WHERE code = $1", code) else {
                throw DemoError("the demo province \(code) is not loaded")
            }
            let provinceID = try province.decode(UUID.self, 0)
            if try db.queryRow("SELECT 1 FROM events WHERE entity_type = 'organization' AND entity_id = $1 AND type = $2",
                               provinceID, markerEvent) != nil {
                return Result(loaded: false)
            }
            try db.execute("SET LOCAL synchronous_commit = off")
            try db.execute("SET LOCAL work_mem = '256MB'")
            // Compiling these wide CASE expressions costs seconds and saves nothing on set-based passes.
            try db.execute("SET LOCAL jit = off")
            try db.queryUnprepared("""
                CREATE TEMP TABLE dx_param (province_id uuid, province_path ltree, code text, seed bigint, today date, rollout float8,
                    positions text[], sanctions text[], withdraw_reasons text[], texts jsonb) ON COMMIT DROP
                """)
            let texts = try JSONSerialization.data(withJSONObject: DemoExchanges.texts, options: [.sortedKeys])
            try db.queryUnprepared("""
                INSERT INTO dx_param VALUES ($1, $2::text::ltree, $3, $4, hcm_today(), $5, $6, $7, $8, $9::text::jsonb)
                """, parameters: [provinceID, try province.decode(String.self, 1), code, Int64(bitPattern: seed),
                                  number == 1 ? 1.0 : rolloutShare, positions, sanctions, withdrawReasons,
                                  String(decoding: texts, as: UTF8.self)])
            for statement in statements {
                try db.queryUnprepared(statement)
            }
            var r = Result(loaded: true)
            for row in try db.queryUnprepared("SELECT status, count(*)::int8 FROM dx_i GROUP BY status") {
                r.introductions[try row.decode(String.self, 0)] = try row.decode(Int.self, 1)
            }
            for row in try db.queryUnprepared("SELECT kind, count(*)::int8 FROM dx_n GROUP BY kind") {
                r.notices[try row.decode(String.self, 0)] = try row.decode(Int.self, 1)
            }
            if let row = try db.queryUnprepared("""
                SELECT (SELECT count(*) FROM dx_n WHERE status = 'sent')::int8,
                       (SELECT count(*) FROM dx_t WHERE done_at IS NULL)::int8, (SELECT count(*) FROM dx_t WHERE done_at IS NOT NULL)::int8,
                       ((SELECT count(*) FROM dx_i WHERE due_on < (SELECT today FROM dx_param))
                        + (SELECT count(*) FROM dx_n WHERE status = 'sent' AND sent_on + days < (SELECT today FROM dx_param))
                        + (SELECT count(*) FROM dx_t WHERE due_on < (SELECT today FROM dx_param)))::int8
                """).firstRow {
                r.noticesWaiting = try row.decode(Int.self, 0)
                r.tasksOpen = try row.decode(Int.self, 1)
                r.tasksDone = try row.decode(Int.self, 2)
                r.overdue = try row.decode(Int.self, 3)
            }
            try EventLog.append(db, type: markerEvent, entityType: "organization", entityID: provinceID, orgIDs: [provinceID],
                                actor: nil, requestID: nil,
                                data: ["seed": String(seed), "introductions": r.introductionCount, "change_notices": r.noticeCount,
                                       "workplace_tasks": r.tasksOpen + r.tasksDone])
            let elapsed = started.duration(to: .now)
            r.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            return r
        }
    }

    // MARK: - Texts (data, not personal)

    static let positions = [
        "Chuyên viên", "Chuyên viên chính", "Phó Trưởng phòng", "Trưởng phòng", "Phó Chánh Văn phòng", "Chánh Văn phòng",
        "Phó Giám đốc", "Giám đốc", "Kế toán trưởng", "Tổ trưởng sản xuất", "Phó Quản đốc phân xưởng", "Quản đốc phân xưởng",
        "Phó Hiệu trưởng", "Trưởng khoa", "Điều dưỡng trưởng", "Đội trưởng",
    ]
    static let sanctions = ["Khiển trách", "Khiển trách", "Khiển trách", "Cảnh cáo"]
    static let withdrawReasons = [
        "Gửi nhầm đảng ủy xã/phường nơi cư trú.",
        "Lập trùng giấy giới thiệu, đã gửi lại giấy khác.",
        "Đảng viên chuyển nơi cư trú trước khi đảng ủy xã/phường tiếp nhận.",
    ]
    /// Per-kind reasons and the return reasons, keyed as the SQL reads them (`texts ->> key`).
    static let texts: [String: String] = [
        "position_change": "Điều động, bổ nhiệm theo quyết định của cấp có thẩm quyền.",
        "work_transfer": "Chuyển công tác sang đơn vị khác theo quyết định điều động.",
        "expelled": "Vi phạm Điều lệ Đảng, bị khai trừ khỏi Đảng.",
        "removed": "Xóa tên trong danh sách đảng viên do bỏ sinh hoạt đảng.",
        "left_party": "Đảng viên xin ra khỏi Đảng, đã được cấp ủy có thẩm quyền đồng ý.",
        "disciplined": "Vi phạm quy định về những điều đảng viên không được làm.",
        "residence_change": "Đảng viên chuyển nơi cư trú sang xã/phường khác.",
        "retired": "Nghỉ hưu theo chế độ, chuyển sinh hoạt đảng về nơi cư trú.",
        "deceased": "Đảng viên từ trần.",
        "exemption_change": "Thay đổi diện miễn sinh hoạt, công tác nơi cư trú.",
        "data_correction": "Đính chính thông tin đảng viên theo hồ sơ gốc.",
        "return.wrong_address": "Địa chỉ ghi trong giấy giới thiệu không đúng tổ dân phố, thôn trên địa bàn.",
        "return.not_resident": "Đảng viên không thường trú, tạm trú trên địa bàn xã/phường.",
        "return.other": "Giấy giới thiệu thiếu chữ ký, dấu của cấp ủy; đề nghị gửi lại.",
    ]

    // MARK: - SQL

    /// `u(expr, tag)`: a uniform number in [0, 1) from the seed, the row and a tag.
    static func u(_ expr: String, _ tag: String) -> String {
        "((hashtextextended((\(expr))::text || ':\(tag)', q.seed) & 281474976710655)::float8 / 281474976710656.0)"
    }

    /// `uid(expr, tag)`: a deterministic UUID (version-4 layout) from the seed, the row and a tag.
    static func uid(_ expr: String, _ tag: String) -> String {
        "(overlay(overlay(md5(q.seed::text || ':' || (\(expr))::text || ':\(tag)') placing '4' from 13) placing '8' from 17))::uuid"
    }

    /// A timestamp on day `date` between 07:30 and 16:30 in Asia/Ho_Chi_Minh, never in the future.
    static func at(_ date: String, _ idExpr: String, _ tag: String) -> String {
        "LEAST(now(), (((\(date)) + time '07:30' + make_interval(mins => floor(\(u(idExpr, tag)) * 540)::int)) AT TIME ZONE 'Asia/Ho_Chi_Minh'))"
    }

    static func fl(_ x: String) -> String { "floor(\(x))::int" }

    static let statements: [String] = [
        // Organizations of the province with the days each waiting step gets there.
        """
        CREATE TEMP TABLE dx_c ON COMMIT DROP AS
        SELECT o.id, o.path, (row_number() OVER (ORDER BY o.code) - 1)::int AS ord,
               COALESCE(policy_days(o.id, 'introduction_receive'), 10) AS d_receive,
               COALESCE(policy_days(o.id, 'introduction_assign'), 10) AS d_assign,
               COALESCE(policy_days(o.id, 'notice_acknowledge'), 10) AS d_notice,
               (SELECT count(*) FROM organizations b WHERE b.parent_id = o.id AND b.kind = 'branch' AND b.valid_to IS NULL)::int AS nb
        FROM organizations o, dx_param q
        WHERE o.path <@ q.province_path AND o.kind = 'commune' AND o.valid_to IS NULL
        """,
        """
        CREATE TEMP TABLE dx_b ON COMMIT DROP AS
        SELECT b.id, b.parent_id AS c_id, b.path, lower(substring(b.name from '(?:Tổ dân phố|thôn) .*$')) AS label,
               (row_number() OVER (PARTITION BY b.parent_id ORDER BY b.code) - 1)::int AS ord,
               COALESCE(policy_days(b.id, 'introduction_acknowledge'), 15) AS d_ack,
               COALESCE(policy_days(b.id, 'notice_acknowledge'), 10) AS d_notice
        FROM organizations b JOIN dx_c c ON c.id = b.parent_id
        WHERE b.kind = 'branch' AND b.valid_to IS NULL
        """,
        """
        CREATE TEMP TABLE dx_w ON COMMIT DROP AS
        SELECT o.id, o.path, o.code, (row_number() OVER (ORDER BY o.code) - 1)::int AS ord,
               COALESCE(policy_days(o.id, 'reintroduce'), 30) AS d_reintroduce,
               (q.rollout >= 1 OR o.code = q.code || '-W01' OR \(u("o.id", "rollout")) < q.rollout) AS rolled
        FROM organizations o, dx_param q
        WHERE o.path <@ q.province_path AND o.kind = 'grassroots_committee' AND o.valid_to IS NULL
        """,
        "ANALYZE dx_c", "ANALYZE dx_b", "ANALYZE dx_w",
        // Members to introduce: in committees that use Branchlink, not exempt from introduction,
        // living in the province, with no introduction yet. The residential branch is the one the
        // address names (tổ dân phố N / thôn X), else one of the commune's branches.
        """
        CREATE TEMP TABLE dx_m ON COMMIT DROP AS
        SELECT m.id, m.party_card_number AS card, m.exemption, m.exemption_ground, m.residence_address, m.admitted_on,
               w.id AS w_id, w.path AS w_path, w.ord AS w_ord, w.d_reintroduce, w.code = q.code || '-W01' AS demo_workplace,
               c.id AS c_id, c.path AS c_path, c.ord AS c_ord,
               COALESCE(ba.id, bf.id) AS b_id
        FROM members m
        CROSS JOIN dx_param q
        JOIN organizations wb ON wb.id = m.workplace_org_id
        JOIN dx_w w ON w.id = CASE WHEN wb.kind = 'grassroots_committee' THEN wb.id ELSE wb.parent_id END AND w.rolled
        JOIN dx_c c ON c.id = m.residence_commune_id AND c.nb > 0
        LEFT JOIN dx_b ba ON ba.c_id = c.id AND ba.label = lower(substring(m.residence_address from '(?:tổ dân phố|thôn) [^,]*$'))
        LEFT JOIN dx_b bf ON bf.c_id = c.id AND bf.ord = (hashtextextended(m.id::text || ':branch', q.seed) & 2147483647) % c.nb
        WHERE m.workplace_path <@ q.province_path AND m.exemption <> 'introduction'
          AND NOT EXISTS (SELECT 1 FROM introductions i WHERE i.member_id = m.id)
        """,
        "ANALYZE dx_m",
        // The plan of each member: the current introduction's status (or none), an earlier one
        // (returned, withdrawn, or ended by a residence change or a transfer), the notice on the
        // current one, and every date as days before today. Each step is MATERIALIZED: inlined,
        // every reference to an earlier column would copy its whole expression.
        """
        CREATE TEMP TABLE dx_p ON COMMIT DROP AS
        WITH r AS MATERIALIZED (
            SELECT m.*, b.path AS b_path, b.ord AS b_ord, b.d_ack, b.d_notice AS b_d_notice,
                   c.d_receive, c.d_assign, c.d_notice AS c_d_notice,
                   \(u("m.id", "state")) AS u_state, \(u("m.id", "hist")) AS u_hist, \(u("m.id", "late")) AS u_late,
                   \(u("m.id", "kind")) AS u_kind, \(u("m.id", "n")) AS u_n, \(u("m.id", "nk")) AS u_nk, \(u("m.id", "ns")) AS u_ns,
                   \(u("m.id", "nl")) AS u_nl, \(u("m.id", "nt")) AS u_nt, \(u("m.id", "na")) AS u_na,
                   \(u("m.id", "t1")) AS t1, \(u("m.id", "t2")) AS t2, \(u("m.id", "t3")) AS t3, \(u("m.id", "t4")) AS t4,
                   \(u("m.id", "t5")) AS t5, \(u("m.id", "q1")) AS q1, \(u("m.id", "q2")) AS q2, \(u("m.id", "q3")) AS q3,
                   \(u("m.id", "q4")) AS q4, \(u("m.id", "q5")) AS q5,
                   (hashtextextended(m.id::text || ':oc', q.seed) & 2147483647) AS h_oc,
                   (hashtextextended(m.id::text || ':ow', q.seed) & 2147483647) AS h_ow,
                   (hashtextextended(m.id::text || ':ob', q.seed) & 2147483647) AS h_ob,
                   GREATEST(60, LEAST(900, COALESCE(q.today - m.admitted_on - 400, 900))) AS span,
                   (SELECT count(*) FROM dx_c)::int AS nc, (SELECT count(*) FROM dx_w)::int AS nw,
                   -- A few members of the demo workplace living in the demo branch's area show every
                   -- waiting step to the demo accounts whatever the dice say.
                   CASE WHEN m.demo_workplace AND m.c_ord = 0 AND b.ord = 0
                        THEN row_number() OVER (PARTITION BY (m.demo_workplace AND m.c_ord = 0 AND b.ord = 0) ORDER BY m.card) END AS showcase
            FROM dx_m m CROSS JOIN dx_param q JOIN dx_b b ON b.id = m.b_id JOIN dx_c c ON c.id = m.c_id
        ), s AS MATERIALIZED (
            SELECT r.*,
                   CASE WHEN showcase IN (1, 2) THEN 'assigned' WHEN showcase IN (3, 4) THEN 'active'
                        WHEN showcase = 5 THEN 'sent' WHEN showcase = 6 THEN 'received'
                        WHEN u_state < 0.012 THEN NULL
                        WHEN u_state < 0.022 THEN 'returned'
                        WHEN u_state < 0.030 THEN 'withdrawn'
                        WHEN u_state < 0.045 THEN 'ended'
                        WHEN u_state < 0.075 THEN 'sent'
                        WHEN u_state < 0.100 THEN 'received'
                        WHEN u_state < 0.140 THEN 'assigned'
                        ELSE 'active' END AS cur,
                   CASE WHEN showcase IN (1, 4, 5) THEN true WHEN showcase IN (2, 3, 6) THEN false ELSE u_late < 0.5 END AS late,
                   CASE WHEN showcase = 4 THEN true WHEN showcase = 3 THEN false ELSE u_nl < 0.4 END AS nlate,
                   (COALESCE(showcase IN (3, 4), false) OR u_ns < 0.15) AS n_open
            FROM r
        ), k AS MATERIALIZED (
            SELECT s.*,
                   CASE WHEN cur IN ('sent', 'received', 'assigned', 'active') AND showcase IS NULL THEN
                        CASE WHEN u_hist < 0.020 THEN 'returned' WHEN u_hist < 0.030 THEN 'withdrawn'
                             WHEN u_hist < 0.038 AND nc > 1 THEN 'residence_change'
                             WHEN u_hist >= 0.038 AND u_hist < 0.044 AND nw > 1 THEN 'work_transfer' END END AS prev,
                   CASE WHEN showcase = 3 THEN 'position_change' WHEN showcase = 4 THEN 'disciplined'
                        WHEN cur = 'ended' THEN
                            CASE WHEN u_kind < 0.25 AND nc > 1 THEN 'residence_change'
                                 WHEN u_kind >= 0.25 AND u_kind < 0.40 AND nw > 1 THEN 'work_transfer'
                                 WHEN u_kind < 0.65 THEN 'retired' WHEN u_kind < 0.75 THEN 'deceased'
                                 WHEN u_kind < 0.83 THEN 'left_party' WHEN u_kind < 0.92 THEN 'removed' ELSE 'expelled' END
                        WHEN cur = 'active' AND u_n < 0.025 THEN
                            CASE WHEN u_nk < 0.45 THEN 'position_change' WHEN u_nk < 0.70 THEN 'data_correction'
                                 WHEN u_nk < 0.85 THEN 'disciplined' ELSE 'exemption_change' END
                        WHEN cur IN ('received', 'assigned') AND u_n < 0.025 THEN
                            CASE WHEN u_nk < 0.6 THEN 'position_change' ELSE 'data_correction' END
                   END AS nkind
            FROM s
        ), e AS MATERIALIZED (
            -- The kind that ended an introduction of this member, if any (the current one or the earlier one).
            SELECT k.*, CASE WHEN cur = 'ended' THEN nkind WHEN prev IN ('residence_change', 'work_transfer') THEN prev END AS ekind
            FROM k
        ), d1 AS MATERIALIZED (
            SELECT e.*,
                   CASE cur
                       WHEN 'sent' THEN CASE WHEN late THEN d_receive + 1 + \(fl("t1 * 40")) ELSE \(fl("t1 * d_receive")) END
                       WHEN 'received' THEN CASE WHEN late THEN d_assign + 1 + \(fl("t1 * 40")) ELSE \(fl("t1 * d_assign")) END
                       WHEN 'assigned' THEN CASE WHEN late THEN d_ack + 1 + \(fl("t1 * 40")) ELSE \(fl("t1 * d_ack")) END
                       WHEN 'active' THEN CASE WHEN showcase IS NOT NULL THEN 60 + \(fl("t1 * 200")) ELSE 1 + \(fl("t1 * span")) END
                       WHEN 'returned' THEN 1 + \(fl("t1 * 300"))
                       WHEN 'withdrawn' THEN 1 + \(fl("t1 * 300"))
                       WHEN 'ended' THEN
                           CASE WHEN ekind IN ('residence_change', 'work_transfer') OR n_open THEN
                                CASE WHEN late THEN (CASE WHEN ekind IN ('residence_change', 'work_transfer') THEN d_reintroduce ELSE b_d_notice END)
                                                    + 1 + \(fl("t2 * 40"))
                                     ELSE \(fl("t2 * (CASE WHEN ekind IN ('residence_change', 'work_transfer') THEN d_reintroduce ELSE b_d_notice END)")) END
                           ELSE 1 + \(fl("t2 * 400")) END
                   END AS c_main,
                   -- The other commune (residence change) or committee (transfer) of the ended link.
                   (c_ord + 1 + h_oc % GREATEST(nc - 1, 1)) % nc AS oc_ord,
                   (w_ord + 1 + h_ow % GREATEST(nw - 1, 1)) % nw AS ow_ord
            FROM e
        ), d2 AS MATERIALIZED (
            SELECT d1.*,
                   CASE WHEN cur = 'ended' THEN c_main END AS c_end,
                   CASE WHEN cur IN ('returned', 'withdrawn') THEN c_main END AS c_closed,
                   CASE cur WHEN 'active' THEN c_main WHEN 'ended' THEN c_main + 20 + \(fl("t1 * span")) END AS c_ack
            FROM d1
        ), d3 AS MATERIALIZED (
            SELECT d2.*, CASE cur WHEN 'assigned' THEN c_main WHEN 'active' THEN c_ack + 1 + \(fl("t3 * 12"))
                                  WHEN 'ended' THEN c_ack + 1 + \(fl("t3 * 12")) END AS c_asg
            FROM d2
        ), d4 AS MATERIALIZED (
            SELECT d3.*, CASE WHEN cur = 'received' THEN c_main
                              WHEN cur IN ('assigned', 'active', 'ended') THEN c_asg + \(fl("t4 * 8"))
                              WHEN cur IN ('returned', 'withdrawn') AND t3 < 0.5 THEN c_closed + 1 + \(fl("t4 * 6")) END AS c_recv
            FROM d3
        ), d5 AS MATERIALIZED (
            SELECT d4.*, CASE WHEN cur = 'sent' THEN c_main WHEN cur IS NOT NULL THEN COALESCE(c_recv, c_closed) + 1 + \(fl("t5 * 9")) END AS c_created
            FROM d4
        ), d6 AS MATERIALIZED (
            SELECT d5.*, CASE WHEN prev IS NOT NULL THEN c_created + 1 + \(fl("q1 * 20")) END AS p_end
            FROM d5
        ), d7 AS MATERIALIZED (
            SELECT d6.*, CASE WHEN prev IN ('residence_change', 'work_transfer') THEN p_end + 30 + \(fl("q2 * 400")) END AS p_ack
            FROM d6
        ), d8 AS MATERIALIZED (
            SELECT d7.*, p_ack + 1 + \(fl("q3 * 12")) AS p_asg FROM d7
        ), d9 AS MATERIALIZED (
            SELECT d8.*, CASE WHEN prev IN ('residence_change', 'work_transfer') THEN p_asg + \(fl("q4 * 8"))
                              WHEN prev IS NOT NULL AND q2 < 0.5 THEN p_end + 1 + \(fl("q4 * 6")) END AS p_recv
            FROM d8
        ), d10 AS MATERIALIZED (
            SELECT d9.*, CASE WHEN prev IS NOT NULL THEN COALESCE(p_recv, p_end) + 1 + \(fl("q5 * 9")) END AS p_created,
                   -- The notice on the current introduction: sent after it became active (or after
                   -- it was sent, while it waits), or when it ended.
                   CASE WHEN nkind IS NULL THEN NULL
                        WHEN cur = 'ended' THEN c_end
                        WHEN cur = 'active' THEN
                            CASE WHEN n_open THEN LEAST(c_ack - 1, CASE WHEN nlate THEN b_d_notice + 1 + \(fl("u_nt * 30"))
                                                                        ELSE \(fl("u_nt * b_d_notice")) END)
                                 ELSE \(fl("u_nt * (c_ack - 1)")) END
                        ELSE CASE WHEN n_open THEN LEAST(c_created, CASE WHEN nlate THEN c_d_notice + 1 + \(fl("u_nt * 30"))
                                                                        ELSE \(fl("u_nt * c_d_notice")) END)
                                  ELSE \(fl("u_nt * c_created")) END
                   END AS n1_sent
            FROM d9
        )
        SELECT d10.*, CASE WHEN nkind IS NOT NULL AND NOT n_open THEN GREATEST(0, n1_sent - 1 - \(fl("u_na * 7"))) END AS n1_ack,
               oc.id AS oc_id, oc.path AS oc_path, ob.id AS ob_id, ob.path AS ob_path, ow.id AS ow_id, ow.path AS ow_path
        FROM d10
        LEFT JOIN dx_c oc ON oc.ord = d10.oc_ord AND d10.ekind = 'residence_change'
        LEFT JOIN dx_b ob ON ob.c_id = oc.id AND ob.ord = d10.h_ob % oc.nb
        LEFT JOIN dx_w ow ON ow.ord = d10.ow_ord AND d10.ekind = 'work_transfer'
        """,
        "ANALYZE dx_p",
        // Introductions: the current one of each member and the earlier one where there is one.
        """
        CREATE TEMP TABLE dx_i ON COMMIT DROP AS
        WITH x AS (
            SELECT \(uid("p.id", "i1")) AS id, p.id AS member_id, p.cur AS status,
                   CASE WHEN p.cur = 'ended' AND p.ekind = 'work_transfer' THEN p.ow_id ELSE p.w_id END AS workplace_id,
                   CASE WHEN p.cur = 'ended' AND p.ekind = 'work_transfer' THEN p.ow_path ELSE p.w_path END AS workplace_path,
                   CASE WHEN p.cur = 'ended' AND p.ekind = 'residence_change' THEN p.oc_id ELSE p.c_id END AS commune_id,
                   CASE WHEN p.cur = 'ended' AND p.ekind = 'residence_change' THEN p.oc_path ELSE p.c_path END AS commune_path,
                   CASE WHEN p.cur = 'ended' AND p.ekind = 'residence_change' THEN p.ob_id
                        WHEN p.cur IN ('assigned', 'active', 'ended') THEN p.b_id END AS branch_id,
                   CASE WHEN p.cur = 'ended' AND p.ekind = 'residence_change' THEN p.ob_path
                        WHEN p.cur IN ('assigned', 'active', 'ended') THEN p.b_path END AS branch_path,
                   p.exemption = 'activities' AS exemption_marker,
                   CASE WHEN p.cur = 'returned' THEN CASE WHEN p.t2 < 0.5 THEN 'wrong_address' WHEN p.t2 < 0.8 THEN 'not_resident' ELSE 'other' END END AS return_reason_code,
                   CASE WHEN p.cur = 'withdrawn' THEN q.withdraw_reasons[1 + \(fl("p.t2 * array_length(q.withdraw_reasons, 1)"))] END AS withdraw_reason,
                   CASE WHEN p.cur = 'ended' THEN p.nkind END AS end_reason,
                   CASE WHEN p.cur = 'ended' THEN \(uid("p.id", "n1")) END AS ended_by_notice_id,
                   CASE p.cur WHEN 'sent' THEN p.c_id WHEN 'received' THEN p.c_id WHEN 'assigned' THEN p.b_id END AS awaiting_org_id,
                   CASE p.cur WHEN 'sent' THEN q.today - p.c_created + p.d_receive WHEN 'received' THEN q.today - p.c_recv + p.d_assign
                              WHEN 'assigned' THEN q.today - p.c_asg + p.d_ack END AS due_on,
                   q.today - p.c_created AS created_on, q.today - p.c_recv AS received_on, q.today - p.c_asg AS assigned_on,
                   q.today - p.c_ack AS acknowledged_on, q.today - p.c_end AS ended_on,
                   q.today - LEAST(p.c_created, p.c_recv, p.c_asg, p.c_ack, p.c_end, p.c_closed) AS updated_on,
                   CASE p.cur WHEN 'sent' THEN 1 WHEN 'received' THEN 2 WHEN 'assigned' THEN 3 WHEN 'active' THEN 4 WHEN 'ended' THEN 5
                              ELSE 2 + (p.c_recv IS NOT NULL)::int END
                   + (p.cur = 'active' AND p.nkind IS NOT DISTINCT FROM 'exemption_change')::int AS version
            FROM dx_p p CROSS JOIN dx_param q WHERE p.cur IS NOT NULL
            UNION ALL
            SELECT \(uid("p.id", "i0")), p.id,
                   CASE WHEN p.prev IN ('returned', 'withdrawn') THEN p.prev ELSE 'ended' END,
                   CASE WHEN p.prev = 'work_transfer' THEN p.ow_id ELSE p.w_id END,
                   CASE WHEN p.prev = 'work_transfer' THEN p.ow_path ELSE p.w_path END,
                   CASE WHEN p.prev = 'residence_change' THEN p.oc_id ELSE p.c_id END,
                   CASE WHEN p.prev = 'residence_change' THEN p.oc_path ELSE p.c_path END,
                   CASE WHEN p.prev = 'residence_change' THEN p.ob_id WHEN p.prev = 'work_transfer' THEN p.b_id END,
                   CASE WHEN p.prev = 'residence_change' THEN p.ob_path WHEN p.prev = 'work_transfer' THEN p.b_path END,
                   p.exemption = 'activities',
                   CASE WHEN p.prev = 'returned' THEN CASE WHEN p.q3 < 0.6 THEN 'wrong_address' WHEN p.q3 < 0.85 THEN 'not_resident' ELSE 'other' END END,
                   CASE WHEN p.prev = 'withdrawn' THEN q.withdraw_reasons[1 + \(fl("p.q3 * array_length(q.withdraw_reasons, 1)"))] END,
                   CASE WHEN p.prev IN ('residence_change', 'work_transfer') THEN p.prev END,
                   CASE WHEN p.prev IN ('residence_change', 'work_transfer') THEN \(uid("p.id", "n0")) END,
                   NULL::uuid, NULL::date,
                   q.today - p.p_created, q.today - p.p_recv, q.today - p.p_asg, q.today - p.p_ack,
                   CASE WHEN p.prev IN ('residence_change', 'work_transfer') THEN q.today - p.p_end END,
                   q.today - p.p_end,
                   CASE WHEN p.prev IN ('residence_change', 'work_transfer') THEN 5 ELSE 2 + (p.p_recv IS NOT NULL)::int END
            FROM dx_p p CROSS JOIN dx_param q WHERE p.prev IS NOT NULL
        )
        SELECT x.*, extract(year FROM x.created_on)::int AS year,
               CASE x.return_reason_code WHEN 'wrong_address' THEN q.texts ->> 'return.wrong_address'
                    WHEN 'not_resident' THEN q.texts ->> 'return.not_resident' WHEN 'other' THEN q.texts ->> 'return.other' END AS return_reason,
               \(at("x.created_on", "x.id", "created")) AS created_at
        FROM x CROSS JOIN dx_param q
        """,
        "ANALYZE dx_i",
        // Letter numbers run per issuing committee and year after whatever the counters hold.
        """
        CREATE TEMP TABLE dx_lc (org_id uuid, year int, last int, added int) ON COMMIT DROP
        """,
        """
        WITH added AS (SELECT workplace_id, year, count(*)::int AS n FROM dx_i GROUP BY workplace_id, year),
        up AS (
            INSERT INTO letter_counters (org_id, year, last) SELECT workplace_id, year, n FROM added
            ON CONFLICT (org_id, year) DO UPDATE SET last = letter_counters.last + EXCLUDED.last
            RETURNING org_id, year, last
        )
        INSERT INTO dx_lc SELECT up.org_id, up.year, up.last, a.n FROM up JOIN added a ON a.workplace_id = up.org_id AND a.year = up.year
        """,
        """
        INSERT INTO introductions (id, number, year, member_id, workplace_id, commune_id, branch_id, workplace_path, commune_path,
            branch_path, status, exemption_marker, return_reason_code, return_reason, withdraw_reason, end_reason, ended_by_notice_id,
            awaiting_org_id, due_on, received_on, assigned_on, acknowledged_on, ended_on, created_at, updated_at, version)
        SELECT i.id, (lc.last - lc.added + row_number() OVER (PARTITION BY i.workplace_id, i.year ORDER BY i.created_at, i.id)) || '-GGT/ĐU',
               i.year, i.member_id, i.workplace_id, i.commune_id, i.branch_id, i.workplace_path, i.commune_path, i.branch_path,
               i.status, i.exemption_marker, i.return_reason_code, i.return_reason, i.withdraw_reason, i.end_reason, i.ended_by_notice_id,
               i.awaiting_org_id, i.due_on, i.received_on, i.assigned_on, i.acknowledged_on, i.ended_on,
               i.created_at, GREATEST(i.created_at, \(at("i.updated_on", "i.id", "updated"))), i.version
        FROM dx_i i CROSS JOIN dx_param q JOIN dx_lc lc ON lc.org_id = i.workplace_id AND lc.year = i.year
        ORDER BY i.created_at, i.id
        """,
        // Change notices: the one on the current introduction and the one that ended the earlier.
        """
        CREATE TEMP TABLE dx_n ON COMMIT DROP AS
        WITH x AS (
            SELECT \(uid("p.id", "n1")) AS id, p.id AS member_id, \(uid("p.id", "i1")) AS introduction_id, p.nkind AS kind,
                   p.n1_sent AS sent_days, p.n1_ack AS ack_days, p.n_open AS open,
                   -- Addressed to the branch of an active link, else to the commune.
                   p.cur IN ('active', 'ended') AS to_branch, p.t5 AS pick, p.u_na AS pick2
            FROM dx_p p CROSS JOIN dx_param q WHERE p.nkind IS NOT NULL
            UNION ALL
            SELECT \(uid("p.id", "n0")), p.id, \(uid("p.id", "i0")), p.prev, p.p_end, GREATEST(0, p.p_end - 1 - \(fl("p.q5 * 6"))), false,
                   true, p.q4, p.q1
            FROM dx_p p CROSS JOIN dx_param q WHERE p.prev IN ('residence_change', 'work_transfer')
        )
        SELECT x.id, x.member_id, x.introduction_id, x.kind, i.workplace_id, i.commune_id, i.branch_id,
               i.workplace_path, i.commune_path, i.branch_path,
               q.today - x.sent_days - \(fl("x.pick * 10")) AS effective_on,
               CASE WHEN x.kind IN ('position_change', 'work_transfer', 'expelled', 'removed', 'disciplined', 'retired')
                    THEN (1 + \(fl("x.pick2 * 480"))) || '-QĐ/ĐU' END AS decision_ref,
               q.texts ->> x.kind AS reason,
               CASE x.kind
                   WHEN 'position_change' THEN jsonb_build_object(
                       'new_position', q.positions[1 + \(fl("x.pick * array_length(q.positions, 1)"))],
                       'previous_position', q.positions[1 + \(fl("x.pick2 * array_length(q.positions, 1)"))])
                   WHEN 'work_transfer' THEN jsonb_build_object('new_workplace_org_id', m.w_id::text,
                       'new_position', q.positions[1 + \(fl("x.pick * array_length(q.positions, 1)"))])
                   WHEN 'residence_change' THEN jsonb_build_object('new_commune_id', m.c_id::text, 'new_address_line', m.residence_address)
                   WHEN 'disciplined' THEN jsonb_build_object('sanction', q.sanctions[1 + \(fl("x.pick * array_length(q.sanctions, 1)"))])
                   WHEN 'exemption_change' THEN jsonb_strip_nulls(jsonb_build_object('new_exemption', m.exemption, 'exemption_ground', m.exemption_ground))
                   WHEN 'data_correction' THEN jsonb_build_object('residence_address', m.residence_address)
                   ELSE '{}'::jsonb END AS details,
               CASE WHEN x.open THEN 'sent' ELSE 'acknowledged' END AS status,
               CASE WHEN x.to_branch THEN i.branch_id ELSE i.commune_id END AS addressee,
               CASE WHEN x.to_branch THEN b.d_notice ELSE c.d_notice END AS days,
               q.today - x.sent_days AS sent_on,
               q.today - x.ack_days AS acknowledged_on
        FROM x CROSS JOIN dx_param q
        JOIN dx_i i ON i.id = x.introduction_id
        JOIN dx_m m ON m.id = x.member_id
        LEFT JOIN dx_c c ON c.id = i.commune_id
        LEFT JOIN dx_b b ON b.id = i.branch_id
        """,
        """
        INSERT INTO change_notices (id, member_id, introduction_id, kind, effective_on, decision_ref, reason, details, status,
            workplace_id, commune_id, branch_id, workplace_path, commune_path, branch_path, awaiting_org_id, due_on,
            acknowledged_on, acknowledged_by, created_at, updated_at, version)
        SELECT n.id, n.member_id, n.introduction_id, n.kind, n.effective_on, n.decision_ref, n.reason, n.details, n.status,
               n.workplace_id, n.commune_id, n.branch_id, n.workplace_path, n.commune_path, n.branch_path,
               CASE WHEN n.status = 'sent' THEN n.addressee END, CASE WHEN n.status = 'sent' THEN n.sent_on + n.days END,
               n.acknowledged_on, CASE WHEN n.status = 'acknowledged' THEN n.addressee END,
               \(at("n.sent_on", "n.id", "created")),
               GREATEST(\(at("n.sent_on", "n.id", "created")), \(at("COALESCE(n.acknowledged_on, n.sent_on)", "n.id", "updated"))),
               CASE WHEN n.status = 'acknowledged' THEN 2 ELSE 1 END
        FROM dx_n n CROSS JOIN dx_param q
        ORDER BY n.sent_on, n.id
        """,
        // The workplace's follow-up of residence changes and transfers: done when the member was
        // introduced again (the current introduction), open otherwise.
        """
        CREATE TEMP TABLE dx_t ON COMMIT DROP AS
        SELECT \(uid("n.id", "task")) AS id,
               CASE n.kind WHEN 'residence_change' THEN 'introduce_new_commune' ELSE 'reintroduce_after_transfer' END AS kind,
               n.member_id, n.id AS source_notice_id,
               CASE WHEN cur.id IS NULL THEN m.w_id END AS awaiting_org_id,
               CASE WHEN cur.id IS NULL THEN n.sent_on + m.d_reintroduce END AS due_on,
               cur.created_at AS done_at,
               \(at("n.sent_on", "n.id", "created")) AS created_at
        FROM dx_n n CROSS JOIN dx_param q
        JOIN dx_m m ON m.id = n.member_id
        LEFT JOIN dx_i cur ON cur.member_id = n.member_id AND cur.id <> n.introduction_id
        WHERE n.kind IN ('residence_change', 'work_transfer')
        """,
        """
        INSERT INTO workplace_tasks (id, kind, member_id, source_notice_id, awaiting_org_id, due_on, done_at, created_at)
        SELECT id, kind, member_id, source_notice_id, awaiting_org_id, due_on, done_at, created_at FROM dx_t ORDER BY created_at, id
        """,
        // One event per item, named by its latest step; no personal data.
        """
        INSERT INTO events (type, entity_type, entity_id, org_ids, data)
        SELECT 'introduction.' || CASE i.status WHEN 'active' THEN 'acknowledged' ELSE i.status END, 'introduction', i.id,
               ARRAY[i.workplace_id, i.commune_id] || CASE WHEN i.branch_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[i.branch_id] END,
               jsonb_build_object('via', 'demo', 'member_id', i.member_id, 'status', i.status)
        FROM dx_i i ORDER BY i.created_at, i.id
        """,
        """
        INSERT INTO events (type, entity_type, entity_id, org_ids, data)
        SELECT t.type, 'change_notice', n.id,
               ARRAY[n.workplace_id, n.commune_id] || CASE WHEN n.branch_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[n.branch_id] END,
               jsonb_build_object('via', 'demo', 'kind', n.kind, 'introduction_id', n.introduction_id)
        FROM dx_n n CROSS JOIN LATERAL (VALUES ('change_notice.sent', 1), ('change_notice.acknowledged', 2)) t(type, step)
        WHERE t.step = 1 OR n.status = 'acknowledged'
        ORDER BY n.sent_on, n.id, t.step
        """,
    ]
}
