#!/usr/bin/env bash
# Rollups and the overdue list over the national-scale data (issue 7: "a province rollup answers
# with p95 <= 300 ms on this machine").
#
#   bench/reports.sh                # a few minutes; needs the national data with introductions and
#                                   # this year's campaign (bench/campaign.sh)
#
# 1. waits while another process works on $SCALE_DIR and starts `branchlink serve` on it (open_scale,
#    as bench/campaign.sh: own embedded cluster, or --database-url on one someone else runs);
# 2. creates a viewer token of the root organization (`branchlink token create`; never printed);
# 3. times, one request at a time on one keep-alive connection (python3, pinned to CPU $LOAD_CPU),
#    $N requests of each province endpoint after $WARM unmeasured ones: the coverage rollup of a
#    province (by child, then group_by=workplace) and the first page of its overdue list; then
#    $N_ROOT of the country rollup and of the country's overdue list. No If-None-Match: every
#    request computes the report;
# 4. prints p50/p95/p99/max per endpoint and the size of the answers.
# Ends with `RESULT reports PASS|FAIL province_p95_ms=… …` (PASS: the province rollup's p95 <=
# $TARGET_MS and every answer 200); exit 1 on FAIL, 2 on setup errors.
#
# Knobs: SCALE_DIR [/work/scale-campaign/.branchlink]  SCALE_PORT [18121]  N [40]  WARM [3]
#        N_ROOT [5]  TARGET_MS [300]  PROVINCE [the first province by code]  WAIT_MINUTES [40]
#        PG_CPUS [0]  and those of bench/lib.sh (SKIP_BUILD, SERVER_CPU [1], LOAD_CPU [0], …)
set -euo pipefail
LOG_LEVEL=${LOG_LEVEL:-warning}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCALE_DIR=${SCALE_DIR:-/work/scale-campaign/.branchlink}
SCALE_PORT=${SCALE_PORT:-18121}
N=${N:-40}
WARM=${WARM:-3}
N_ROOT=${N_ROOT:-5}
TARGET_MS=${TARGET_MS:-300}
WAIT_MINUTES=${WAIT_MINUTES:-40}
PG_CPUS=${PG_CPUS-0}

bl_init reports
bl_build branchlink

section "coverage rollups and overdue lists over $SCALE_DIR ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"
open_scale "$SCALE_DIR" "$SCALE_PORT" reports || exit 2
BASE="http://127.0.0.1:$SCALE_PORT"
log "data: $(psql -X -tA "$SCALE_CONN" -c "SELECT format('~%s members, ~%s introductions, ~%s assessment requests (%s of this year), %s organizations',
  (SELECT reltuples::bigint FROM pg_class WHERE oid = 'members'::regclass),
  (SELECT reltuples::bigint FROM pg_class WHERE oid = 'introductions'::regclass),
  (SELECT reltuples::bigint FROM pg_class WHERE oid = 'assessment_requests'::regclass),
  (SELECT count(*) FROM assessment_requests WHERE year = extract(year FROM hcm_today())),
  (SELECT count(*) FROM organizations))")"

read -r ROOT_ID ROOT_CODE < <(psql -X -tA -F ' ' "$SCALE_CONN" -c "SELECT id, code FROM organizations WHERE parent_id IS NULL") || true
if [[ -n "${PROVINCE:-}" ]]; then
  read -r PROV_ID PROV_CODE < <(psql -X -tA -F ' ' "$SCALE_CONN" -v c="$PROVINCE" <<<"SELECT id, code FROM organizations WHERE code = :'c'") || true
else
  read -r PROV_ID PROV_CODE < <(psql -X -tA -F ' ' "$SCALE_CONN" -c "SELECT id, code FROM organizations WHERE kind = 'province' ORDER BY code LIMIT 1") || true
fi
[[ -n "${ROOT_ID:-}" && -n "${PROV_ID:-}" ]] || { log "no root or province in the data"; exit 2; }
log "province $PROV_CODE ($PROV_ID): $(psql -X -tA "$SCALE_CONN" -v p="$PROV_ID" <<'SQL'
SELECT format('%s children, %s organizations in its subtree, %s members working there, %s overdue introductions waiting on it',
  (SELECT count(*) FROM organizations WHERE parent_id = :'p'),
  (SELECT count(*) FROM organizations o, organizations x WHERE x.id = :'p' AND o.path <@ x.path),
  (SELECT count(*) FROM members m, organizations x WHERE x.id = :'p' AND m.workplace_path <@ x.path),
  (SELECT count(*) FROM introductions i, organizations x WHERE x.id = :'p' AND i.commune_path <@ x.path AND i.due_on < hcm_today()));
SQL
)"

TOKEN=$(scale_token "$ROOT_CODE" viewer "bench reports viewer") || { log "token create failed:"; tail -5 "$BL_TMP/token-create.log"; exit 2; }
token_works "$SCALE_PORT" "$TOKEN" || { log "the new token does not work"; exit 2; }

# time_requests LABEL COUNT WARM PATH: sequential GETs on one keep-alive connection; prints the
# percentiles and a line "LAT label=… n=… p50_ms=… p95_ms=… p99_ms=… max_ms=… non200=… bytes=…".
time_requests() {
  BL_TOKEN="$TOKEN" taskset -c "$LOAD_CPU" python3 - "$SCALE_PORT" "$1" "$2" "$3" "$4" <<'PY'
import http.client, os, sys, time
port, label, count, warm, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
headers = {"Authorization": "Bearer " + os.environ["BL_TOKEN"], "Accept": "application/json"}
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
times, non200, size = [], 0, 0
for i in range(warm + count):
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    dt = (time.perf_counter() - t0) * 1000
    if r.status != 200:
        non200 += 1
    size = len(body)
    if i >= warm:
        times.append(dt)
times.sort()
def pct(p):
    k = max(0, min(len(times) - 1, int(round(p / 100.0 * len(times) + 0.5)) - 1))
    return times[k]
print("  %s: n=%d  p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (%d bytes, %d not 200)  GET %s"
      % (label, len(times), pct(50), pct(95), pct(99), times[-1], size, non200, path))
print("LAT label=%s n=%d p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f non200=%d bytes=%d"
      % (label, len(times), pct(50), pct(95), pct(99), times[-1], non200, size))
PY
}

log ""
log "sequential requests, one keep-alive connection (taskset -c $LOAD_CPU); server taskset -c $SERVER_CPU; $(loadavg) before"
RESULTS="$OUT_DIR/latencies.txt"
: >"$RESULTS"
run() { time_requests "$@" | tee -a "$RESULTS" | grep -v '^LAT '; }
run province "$N" "$WARM" "/v1/reports/coverage?org_id=$PROV_ID"
run province_workplace "$N" "$WARM" "/v1/reports/coverage?org_id=$PROV_ID&group_by=workplace"
run province_overdue "$N" "$WARM" "/v1/reports/overdue?org_id=$PROV_ID"
run root "$N_ROOT" 1 "/v1/reports/coverage?org_id=$ROOT_ID"
run root_workplace "$N_ROOT" 1 "/v1/reports/coverage?org_id=$ROOT_ID&group_by=workplace"
run root_overdue "$N_ROOT" 1 "/v1/reports/overdue?org_id=$ROOT_ID"
log "  ($(loadavg) after)"
curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/v1/reports/coverage?org_id=$PROV_ID" -o "$OUT_DIR/province.json" || true
log "province total row: $(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print(json.dumps({k: t[k] for k in ("members", "introductions", "annual_requests", "overdue")}, sort_keys=True))' "$OUT_DIR/province.json" 2>/dev/null || echo "?")"

field() { sed -n "s/^LAT label=$1 .* $2=\\([^ ]*\\).*/\\1/p" "$RESULTS"; }
P95=$(field province p95_ms)
BAD=$(awk '/^LAT /{ for (i = 1; i <= NF; i++) if ($i ~ /^non200=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' "$RESULTS")
VERDICT=PASS
awk -v p="$P95" -v t="$TARGET_MS" 'BEGIN { exit !(p != "" && p <= t) }' || VERDICT=FAIL
[[ "$BAD" == 0 ]] || VERDICT=FAIL
log ""
log "RESULT reports $VERDICT province_p95_ms=$P95 province_workplace_p95_ms=$(field province_workplace p95_ms) overdue_p95_ms=$(field province_overdue p95_ms) root_p95_ms=$(field root p95_ms) root_workplace_p95_ms=$(field root_workplace p95_ms) root_overdue_p95_ms=$(field root_overdue p95_ms) target_ms=$TARGET_MS non200=$BAD ${SCALE_NOTE:+note=\"$SCALE_NOTE\"}"
[[ "$VERDICT" == PASS ]]
