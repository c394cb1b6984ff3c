#!/usr/bin/env bash
# Member search `q` by name without diacritics over the national-scale data (issue 4: "measured
# p50/p99 of q lookups by name without diacritics ... target p99 <= 50 ms on this machine").
#
#   bench/search.sh                        # ~20 min while searches hit the 5 s statement timeout
#                                          # (a few minutes when they are fast); needs the data of
#                                          # `branchlink demo --provinces 34 --members 5500000`
#   SCALE_DIR=/other/.branchlink bench/search.sh
#
# 1. waits (polling every minute, at most WAIT_MINUTES) while another process works on $SCALE_DIR
#    (a `branchlink demo` adding data, a server, its PostgreSQL); then starts `branchlink serve` on
#    it pinned to CPU $SERVER_CPU: on its embedded cluster (pinned to $PG_CPUS, stopped at exit), or,
#    when that cluster is still run by someone else, with --database-url on it (left running; the
#    figures then carry a note);
# 2. callers: the province viewer of demo.json (DEMO-P01; when its token no longer works, a new
#    viewer token of DEMO-P01) and a new admin token of the root (TW), both through
#    `branchlink token create` when needed (tokens never printed);
# 3. $QUERIES name fragments without diacritics (bench/search_queries.py: "nguyen van",
#    "tran thi hoa", "le minh", family+given, given alone; demo-name frequencies), requested one at
#    a time on one keep-alive connection (bench/seqlat.py, pinned to CPU $LOAD_CPU) as
#    `GET /v1/members?q=…` (the API's default page size): one unmeasured pass (its figures are
#    printed: cold caches), then one measured pass, per caller;
# 4. prints p50/p90/p99/max per caller with the load average before and after, the slowest
#    queries, how many statements hit the server's statement timeout (5 s: such a p99 is a lower
#    bound), and EXPLAIN (ANALYZE, BUFFERS) of each caller's slowest query with the SQL of
#    MemberListQuery (Sources/Branchlink/Members/MemberList.swift) for that caller.
# Ends with `RESULT search PASS|FAIL province_p99_ms=… root_p99_ms=… …` (PASS: p99 <= $TARGET_MS
# for both callers and every answer 200); exit 1 on FAIL, 2 on setup errors.
#
# Knobs: SCALE_DIR [/work/scale/.branchlink]  SCALE_PORT [18111]  QUERIES [200]  QUERY_SEED [7]
#        TARGET_MS [50]  WAIT_MINUTES [40]  PG_CPUS [0]  PROVINCE_CODE [DEMO-P01]
#        LOG_LEVEL [warning] and those of bench/lib.sh (SKIP_BUILD, SERVER_CPU [1], LOAD_CPU [0], …)
set -euo pipefail
LOG_LEVEL=${LOG_LEVEL:-warning}   # per-request lines are info; a sequential run needs none of them
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCALE_DIR=${SCALE_DIR:-/work/scale/.branchlink}
SCALE_PORT=${SCALE_PORT:-18111}
QUERIES=${QUERIES:-200}
QUERY_SEED=${QUERY_SEED:-7}
TARGET_MS=${TARGET_MS:-50}
WAIT_MINUTES=${WAIT_MINUTES:-40}
PG_CPUS=${PG_CPUS-0}
PROVINCE_CODE=${PROVINCE_CODE:-DEMO-P01}

bl_init search
bl_build branchlink

section "member search over $SCALE_DIR ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"
open_scale "$SCALE_DIR" "$SCALE_PORT" search || exit 2
BASE="http://127.0.0.1:$SCALE_PORT"
read -r MEMBERS INTROS < <(psql -X -tA -F ' ' "$SCALE_CONN" -c \
  "SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = 'members'::regclass), (SELECT reltuples::bigint FROM pg_class WHERE oid = 'introductions'::regclass)")
log "data: ~$MEMBERS members, ~$INTROS introductions (pg_class.reltuples); database $(psql -X -tA "$SCALE_CONN" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"

# ---------------------------------------------------------------- callers
PROVINCE_TOKEN=""
if [[ -f "$SCALE_DIR/demo.json" ]]; then PROVINCE_TOKEN=$(demo_json "$SCALE_DIR" tokens province_viewer 2>/dev/null || true); fi
if token_works "$SCALE_PORT" "$PROVINCE_TOKEN"; then
  PROVINCE_FROM="demo.json province_viewer"
else
  PROVINCE_TOKEN=$(scale_token "$PROVINCE_CODE" viewer "bench search province viewer") || { log "token create failed:"; tail -5 "$BL_TMP/token-create.log"; exit 2; }
  PROVINCE_FROM="new viewer token of $PROVINCE_CODE (the demo.json one did not work)"
fi
ROOT_TOKEN=$(scale_token TW admin "bench search root admin") || { log "token create failed:"; tail -5 "$BL_TMP/token-create.log"; exit 2; }
token_works "$SCALE_PORT" "$PROVINCE_TOKEN" && token_works "$SCALE_PORT" "$ROOT_TOKEN" || { log "a caller token does not work"; exit 2; }
me() { curl -fsS -H "Authorization: Bearer $1" "$BASE/v1/me" | python3 -c 'import json,sys; d=json.load(sys.stdin); o=d["organization"]; print("%s of %s (%s)" % (d["role"], o["code"], o["kind"]))'; }
log "callers: province = $(me "$PROVINCE_TOKEN") from $PROVINCE_FROM; root = $(me "$ROOT_TOKEN"), new token"

python3 "$BL_BENCH/search_queries.py" --count "$QUERIES" --seed "$QUERY_SEED" >"$BL_TMP/paths.txt"
cp "$BL_TMP/paths.txt" "$OUT_DIR/queries.txt"
log "$QUERIES queries ($(sort -u "$BL_TMP/paths.txt" | wc -l) distinct), e.g. $(head -3 "$BL_TMP/paths.txt" | sed 's|.*q=||; s|%20| |g' | paste -sd, | sed 's/,/, /g')"

# ---------------------------------------------------------------- runs
declare -A P99 P50 NON2XX LOADS
run_caller() { # label token
  local label=$1 l0 l1 line
  l0=$(loadavg)
  BL_TOKEN="$2" taskset -c "$LOAD_CPU" python3 "$BL_BENCH/seqlat.py" --port "$SCALE_PORT" --paths "$BL_TMP/paths.txt" \
    --warmup-passes 1 --label "$label" --slowest 5 --timeout 60 --max-seconds 1200 >"$OUT_DIR/seqlat-$label.txt" 2>&1 || true
  l1=$(loadavg)
  sed 's/^/  /' "$OUT_DIR/seqlat-$label.txt"
  log "  ($l0 before, $l1 after)"
  line=$(grep '^SEQLAT ' "$OUT_DIR/seqlat-$label.txt" || true)
  P50[$label]=$(sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p' <<<"$line")
  P99[$label]=$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$line")
  local n2 er
  n2=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line"); er=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
  NON2XX[$label]=$(( ${n2:-1} + ${er:-0} ))
  LOADS[$label]="${l0#load } -> ${l1#load }"
}
log ""
log "sequential GET /v1/members?q=… (one keep-alive connection, taskset -c $LOAD_CPU); server taskset -c $SERVER_CPU"
run_caller province "$PROVINCE_TOKEN"
run_caller root "$ROOT_TOKEN"

# ---------------------------------------------------------------- EXPLAIN of the slowest
# The statement MemberListQuery.sql builds for a name search, first page (limit 50 + 1), for a
# caller whose subtree is the root or a province (it reads ranked spellings first) and that is not
# on the residence side (visibility TRUE), with the values inlined and JIT off (the server runs it
# unprepared with SET LOCAL jit = off). One per caller: its slowest query.
explain_slowest() { # label scope_code
  local label=$1 code=$2 path q
  path=$(awk '/slowest:/ { f = 1; next } f && NF { print $4; exit }' "$OUT_DIR/seqlat-$label.txt")
  q=$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlsplit(sys.argv[1]).query)["q"][0])' "$path" 2>/dev/null || true)
  [[ -n "$q" ]] || { log "no slowest query for $label"; return 0; }
  section "EXPLAIN (ANALYZE, BUFFERS): slowest query of the $label caller, q=\"$q\" (scope $code)"
  timeout 300 psql -X -v ON_ERROR_STOP=1 "$SCALE_CONN" -v q="$q" -v code="$code" <<'SQL' 2>&1 | tee "$OUT_DIR/explain-$label.txt" | sed 's/^/  /' || true
SELECT path::text AS scope FROM organizations WHERE code = :'code' \gset
SET jit = off;
EXPLAIN (ANALYZE, BUFFERS)
SELECT m.id, m.party_card_number, m.full_name, m.sex, m.birth_date, m.admitted_on, m.full_member_on, m.workplace_org_id,
       m.residence_province_id, m.residence_commune_id, m.residence_address, m.exemption, m.exemption_ground,
       m.created_at, m.updated_at, m.version, m.workplace_path::text, f.score, f.form
FROM (SELECT s.form, s.score FROM (
        SELECT fo.form, -((CASE WHEN strpos(fo.form, lower(:'q')) > 0 THEN 1 ELSE 0 END)::float8
               + similarity(fo.search_key, search_key(:'q'))::float8) AS score
        FROM member_name_forms fo
        WHERE fo.search_key LIKE '%' || replace(replace(replace(search_key(:'q'), '\', '\\'), '%', '\%'), '_', '\_') || '%') s
      ORDER BY s.score, s.form) f
CROSS JOIN LATERAL (SELECT m.* FROM members m
    WHERE (m.workplace_path <@ :'scope'::ltree OR EXISTS (SELECT 1 FROM introductions li WHERE li.member_id = m.id
            AND li.status IN ('sent', 'received', 'assigned', 'active') AND (li.commune_path <@ :'scope'::ltree OR li.branch_path <@ :'scope'::ltree)))
      AND TRUE AND lower(m.full_name) = f.form
    ORDER BY m.created_at, m.id LIMIT 51) m
ORDER BY f.score, f.form, m.created_at, m.id
LIMIT 51;
SQL
}
explain_slowest province "$PROVINCE_CODE"
explain_slowest root TW

# ---------------------------------------------------------------- result
VERDICT=PASS
for c in province root; do
  [[ -n "${P99[$c]:-}" ]] || { VERDICT=FAIL; continue; }
  awk -v p="${P99[$c]}" -v t="$TARGET_MS" 'BEGIN { exit !(p <= t) }' || VERDICT=FAIL
  [[ "${NON2XX[$c]:-1}" == 0 ]] || VERDICT=FAIL
done
section "member search: summary"
log "province ($PROVINCE_CODE viewer): p50 ${P50[province]:-?} ms, p99 ${P99[province]:-?} ms, non-2xx/errors ${NON2XX[province]:-?}, load ${LOADS[province]:-?}"
log "root (TW admin):            p50 ${P50[root]:-?} ms, p99 ${P99[root]:-?} ms, non-2xx/errors ${NON2XX[root]:-?}, load ${LOADS[root]:-?}"
log "target: p99 <= $TARGET_MS ms per caller"
TIMEOUTS=$(grep -c 'statement timed out' "$BL_TMP/server-search.log" 2>/dev/null || true)
if [[ "${TIMEOUTS:-0}" != 0 ]]; then
  log "$TIMEOUTS statements hit the server's statement timeout (--statement-timeout-ms, default 5000; answered 503),"
  log "warm-up passes included: where that is more than 1 % of a caller's requests its p99 is only a lower bound"
fi
[[ -z "$SCALE_NOTE" ]] || log "NOTE: $SCALE_NOTE"
log ""
log "RESULT search $VERDICT province_p50_ms=${P50[province]:-?} province_p99_ms=${P99[province]:-?} root_p50_ms=${P50[root]:-?} root_p99_ms=${P99[root]:-?} members=$MEMBERS queries=$QUERIES$([[ -z "$SCALE_NOTE" ]] || echo " note=data-dir-in-use")"
log "output: $OUT_DIR"
[[ "$VERDICT" == PASS ]] || exit 1
