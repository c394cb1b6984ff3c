#!/usr/bin/env bash
# One `POST /v1/introductions/batch` with 10,000 members (issue 5: "introducing 10,000 members in
# one batch call, measured time").
#
#   bench/introduce_batch.sh            # about 3 minutes (demo load ~1 min, the batch, a repeat)
#
# 1. starts `branchlink serve --demo` (fresh temporary --data-dir) pinned to CPU $SERVER_CPU; its
#    embedded PostgreSQL pinned to $PG_CPUS;
# 2. adds $BATCH_MEMBERS members with SQL (realistic Vietnamese names, card numbers BATCH0000001…),
#    all working at the demo workplace committee (the demo workplace officer's organization) and
#    living in the demo commune; 1 % with exemption `activities` (introduced with the marker);
# 3. times one batch call with curl (all members, `commune_id` = their commune, an
#    Idempotency-Key like a real client), then checks in the database that every `created` item is
#    one live introduction with its `introduction.sent` event, and prints the per-item outcome
#    counts (by error code);
# 4. with BATCH_AGAIN=1 (default) times the same list again under a new key: every item must now
#    fail with `live_introduction_exists` (the cost of the refusal path).
# Prints the load average before and after each call, the server's and PostgreSQL's CPU time.
# Ends with `RESULT introduce_batch PASS|FAIL seconds=… created=… …`; exit 1 when the outcome is
# not the expected one (the time has no target in the issue: it is reported).
#
# Knobs: BATCH_PORT [18743]  BATCH_MEMBERS [10000]  BATCH_AGAIN [1]  PG_CPUS [0]
#        and those of bench/lib.sh (SKIP_BUILD, SERVER_CPU [1], LOG_LEVEL [info], KEEP_TMP, …)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATCH_PORT=${BATCH_PORT:-18743}
BATCH_MEMBERS=${BATCH_MEMBERS:-10000}
BATCH_AGAIN=${BATCH_AGAIN:-1}
PG_CPUS=${PG_CPUS-0}

bl_init introduce_batch
bl_build branchlink

section "introductions batch of $BATCH_MEMBERS ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"
DATA="$BL_TMP/data"
start_branchlink demo "$DATA" "$BATCH_PORT" --demo || exit 2
pin_pg "$DATA" "$PG_CPUS"
TOKEN=$(demo_json "$DATA" tokens workplace_officer)
WORKPLACE=$(demo_json "$DATA" orgs workplace)
COMMUNE=$(demo_json "$DATA" orgs commune)
BASE="http://127.0.0.1:$BATCH_PORT"

t0=$(date +%s%N)
pg_sql "$DATA" -v workplace="$WORKPLACE" -v commune="$COMMUNE" -v n="$BATCH_MEMBERS" <<'SQL'
INSERT INTO members (party_card_number, full_name, sex, birth_date, admitted_on, full_member_on, workplace_org_id, workplace_path,
                     residence_province_id, residence_commune_id, residence_address, exemption, exemption_ground)
SELECT 'BATCH' || lpad(g::text, 7, '0'),
       (ARRAY['Nguyễn','Trần','Lê','Phạm','Hoàng','Phan','Vũ','Đặng','Bùi','Đỗ','Hồ','Ngô'])[1 + g % 12] || ' ' ||
       CASE WHEN g % 2 = 0 THEN (ARRAY['Văn','Hữu','Đức','Minh','Quang','Công'])[1 + g % 6] || ' ' ||
                                (ARRAY['Hùng','Dũng','Tuấn','Hải','Nam','Sơn','Thắng','Long','Cường'])[1 + (g / 7) % 9]
            ELSE (ARRAY['Thị','Ngọc','Thu','Thanh','Hồng'])[1 + g % 5] || ' ' ||
                 (ARRAY['Lan','Hương','Hoa','Mai','Linh','Trang','Hà','Thảo','Nga'])[1 + (g / 7) % 9] END,
       CASE WHEN g % 2 = 0 THEN 'male' ELSE 'female' END,
       date '1965-01-01' + (g * 37) % 14000,
       date '1995-03-03' + (g * 11) % 9000,
       date '1996-03-03' + (g * 11) % 9000,
       w.id, w.path, c.parent_id, c.id,
       'Số ' || (1 + g % 300) || ', ngõ ' || (1 + g % 40) || ', tổ dân phố ' || (1 + g % 25),
       CASE WHEN g % 100 = 0 THEN 'activities' ELSE 'none' END,
       CASE WHEN g % 100 = 0 THEN 'Đảng viên cao tuổi, sức khỏe yếu (HD 33 §1.1)' END
FROM generate_series(1, :n) AS g, organizations w, organizations c
WHERE w.id = :'workplace' AND c.id = :'commune';
ANALYZE members;
SQL
log "inserted $BATCH_MEMBERS members at the demo workplace, living in the demo commune, in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
pg_sql "$DATA" -tA -v commune="$COMMUNE" -o "$BL_TMP/body.json" <<'SQL'
SELECT json_build_object('items', json_agg(json_build_object('member_id', id, 'commune_id', :'commune') ORDER BY party_card_number))
FROM members WHERE party_card_number LIKE 'BATCH%';
SQL
log "request body: $(stat -c %s "$BL_TMP/body.json") bytes"

# post LABEL KEY -> times the call; prints and sets SECONDS_TAKEN, HTTP_CODE
post() {
  local label=$1 key=$2 l0 l1 s0 s1 g0 g1 w
  l0=$(loadavg); s0=$(proc_ticks "$SERVER_PID"); g0=$(pg_ticks "$DATA")
  w=$(curl -sS --max-time 900 -o "$BL_TMP/resp-$label.json" -w '%{http_code} %{time_total} %{time_starttransfer} %{size_download}' \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H "Idempotency-Key: $key" \
        --data-binary @"$BL_TMP/body.json" "$BASE/v1/introductions/batch") || true
  s1=$(proc_ticks "$SERVER_PID"); g1=$(pg_ticks "$DATA"); l1=$(loadavg)
  read -r HTTP_CODE SECONDS_TAKEN _ttfb size <<<"$w"
  log "$label: HTTP $HTTP_CODE in ${SECONDS_TAKEN} s (response ${size} bytes); server CPU $(awk -v t="$((s1 - s0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }') s, PostgreSQL CPU $(awk -v t="$((g1 - g0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }') s; $l0 before, $l1 after"
}
outcomes() { # file -> "created=N failed=M codes=code:count,…"
  python3 - "$1" <<'PY'
import collections, json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("created=0 failed=0 codes=unreadable-response"); sys.exit(0)
codes = collections.Counter()
for r in d.get("results", []):
    if not r.get("ok"):
        for e in r.get("errors", [])[:1]:
            codes[e.get("code", "?")] += 1
ok = sum(1 for r in d.get("results", []) if r.get("ok"))
print("items=%s created=%s failed=%s ok_rows=%d codes=%s" % (d.get("items"), d.get("created"), d.get("failed"), ok,
      ",".join("%s:%d" % kv for kv in codes.most_common()) or "none"))
PY
}

log ""
post first "bench-batch-$$-1"
FIRST_SECONDS=$SECONDS_TAKEN
FIRST=$(outcomes "$BL_TMP/resp-first.json")
log "  outcome: $FIRST"
read -r LIVE EVENTS MARKED < <(pg_sql "$DATA" -tA -F ' ' <<'SQL'
SELECT (SELECT count(*) FROM introductions i JOIN members m ON m.id = i.member_id
         WHERE m.party_card_number LIKE 'BATCH%' AND i.status = 'sent'),
       (SELECT count(*) FROM events e JOIN introductions i ON i.id = e.entity_id JOIN members m ON m.id = i.member_id
         WHERE e.type = 'introduction.sent' AND m.party_card_number LIKE 'BATCH%'),
       (SELECT count(*) FROM introductions i JOIN members m ON m.id = i.member_id
         WHERE m.party_card_number LIKE 'BATCH%' AND i.exemption_marker);
SQL
)
log "  in the database: $LIVE live introductions (status sent), $EVENTS introduction.sent events, $MARKED with the exemption marker"
VERDICT=PASS
want_created="created=$BATCH_MEMBERS failed=0"
[[ "$HTTP_CODE" == 200 && "$FIRST" == *"$want_created"* && "$LIVE" == "$BATCH_MEMBERS" && "$EVENTS" == "$BATCH_MEMBERS" ]] || VERDICT=FAIL
[[ "$MARKED" == "$((BATCH_MEMBERS / 100))" ]] || VERDICT=FAIL

AGAIN_PART=""
if [[ "$BATCH_AGAIN" == 1 ]]; then
  log ""
  post again "bench-batch-$$-2"
  AGAIN=$(outcomes "$BL_TMP/resp-again.json")
  log "  outcome: $AGAIN"
  [[ "$HTTP_CODE" == 200 && "$AGAIN" == *"created=0 failed=$BATCH_MEMBERS"* && "$AGAIN" == *"codes=live_introduction_exists:$BATCH_MEMBERS" ]] || VERDICT=FAIL
  AGAIN_PART=" again_seconds=$SECONDS_TAKEN again_codes=${AGAIN##*codes=}"
fi

log ""
log "RESULT introduce_batch $VERDICT seconds=$FIRST_SECONDS ${FIRST} live=$LIVE events=$EVENTS$AGAIN_PART $(loadavg | tr ' ' '_' | sed 's/_/=/')"
log "output: $OUT_DIR"
[[ "$VERDICT" == PASS ]] || exit 1
