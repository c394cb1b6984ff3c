#!/usr/bin/env bash
# What the audit chain and delegation cost (issue 7 items 6 and 7), on the demo province.
#
#   BEFORE_BIN=/path/to/branchlink-built-without-the-audit bench/audit.sh     # about 3 minutes
#
# 1. writes: `POST /v1/residence-meetings` (a new meeting each time, no row contention) by the demo
#    branch officer with wrk ($CONNS connections, $DURATION s), against this build and, when
#    BEFORE_BIN is set, against that binary on its own demo data: every write of this build also
#    appends its audit record under the chain's advisory lock, held until COMMIT;
# 2. reads: `GET /v1/organizations/{commune}` by the branch officer acting for the commune
#    (`Acting-For`, one delegation query per request) against `GET /v1/organizations/{branch}`
#    without the header, same server, same connections;
# 3. the chain: appends $CHAIN valid records (bench/audit_chain.py, COPY), then times
#    `GET /v1/audit/verify` over the whole chain and over the last 100,000 records (`from=`).
# Prints `RESULT audit writes_before=… writes_after=… get_plain=… get_acting_for=… verify_ms=… …`.
#
# Knobs: DURATION [15]  CONNS [8]  CHAIN [1000000]  PORT [18131]  and bench/lib.sh's
set -euo pipefail
LOG_LEVEL=${LOG_LEVEL:-warning}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-15}
CONNS=${CONNS:-8}
CHAIN=${CHAIN:-1000000}
PORT=${PORT:-18131}
AFTER_BIN=$BL_BIN

bl_init audit
bl_build branchlink
section "audit chain and delegation cost ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"

# rps LABEL DIR METHOD PATH [HEADER]: wrk requests/s (non-2xx counted and printed).
rps() {
  local label=$1 dir=$2 method=$3 path=$4 header=${5:-}
  local token; token=$(demo_json "$dir" tokens branch_officer)
  local branch; branch=$(demo_json "$dir" orgs branch)
  cat >"$BL_TMP/$label.lua" <<LUA
wrk.method = "$method"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "application/json"
LUA
  # (quotes inside ${…:+…} in a here-document would be removed)
  [[ -z "$header" ]] || echo "wrk.headers[\"Acting-For\"] = \"$header\"" >>"$BL_TMP/$label.lua"
  if [[ "$method" == POST ]]; then
    echo "wrk.body = '{\"branch_id\":\"$branch\",\"held_on\":\"2026-11-20\",\"topic\":\"bench\"}'" >>"$BL_TMP/$label.lua"
  fi
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$BL_TMP/$label.lua" "http://127.0.0.1:$PORT$path" >"$OUT_DIR/wrk-$label.txt" 2>&1
  local r; r=$(awk '/Requests\/sec/ { print $2 }' "$OUT_DIR/wrk-$label.txt")
  local bad; bad=$(awk '/Non-2xx/ { print $5 }' "$OUT_DIR/wrk-$label.txt")
  log "$label: $r req/s${bad:+ ($bad non-2xx)} ($(loadavg))" >&2
  echo "$r"
}

WRITES_BEFORE=-
if [[ -n "${BEFORE_BIN:-}" ]]; then
  BL_BIN=$BEFORE_BIN
  start_branchlink before "$BL_TMP/before" "$PORT" --demo
  WRITES_BEFORE=$(rps writes-before "$BL_TMP/before" POST /v1/residence-meetings)
  stop_pid "$SERVER_PID" "branchlink before"; forget_pid "$SERVER_PID"
  stop_postmaster "$BL_TMP/before"
fi

BL_BIN=$AFTER_BIN
DIR="$BL_TMP/after"
start_branchlink after "$DIR" "$PORT" --demo
WRITES_AFTER=$(rps writes-after "$DIR" POST /v1/residence-meetings)
COMMUNE=$(demo_json "$DIR" orgs commune)
BRANCH=$(demo_json "$DIR" orgs branch)
GET_PLAIN=$(rps get-plain "$DIR" GET "/v1/organizations/$BRANCH")
GET_ACTING=$(rps get-acting-for "$DIR" GET "/v1/organizations/$COMMUNE" "$COMMUNE")

section "chain of $CHAIN more records"
read -r SEQ HASH < <(pg_sql "$DIR" -At -F ' ' -c "SELECT sequence, encode(hash, 'hex') FROM audit_records ORDER BY sequence DESC LIMIT 1")
COLUMNS=$(cd "$BL_BENCH" && python3 -c 'import audit_chain; print(audit_chain.COLUMNS)')
python3 "$BL_BENCH/audit_chain.py" "$CHAIN" "$SEQ" "$HASH" | pg_sql "$DIR" -c "COPY audit_records ($COLUMNS) FROM STDIN"
pg_sql "$DIR" -c "VACUUM ANALYZE audit_records"
ADMIN=$(demo_json "$DIR" tokens admin)
TOTAL=$(pg_sql "$DIR" -At -c "SELECT max(sequence) FROM audit_records")
verify() {
  curl -fsS --max-time 600 -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/v1/audit/verify$1" >"$OUT_DIR/verify$2.json"
  python3 -c "import json,sys; v=json.load(open(sys.argv[1])); print(v['intact'], v['checked'], v['elapsed_ms'])" "$OUT_DIR/verify$2.json"
}
read -r INTACT CHECKED VERIFY_MS < <(verify "" all)
log "verify all: intact=$INTACT checked=$CHECKED in $VERIFY_MS ms ($(loadavg))"
read -r INTACT2 CHECKED2 VERIFY_RANGE_MS < <(verify "?from=$((TOTAL - 99999))" range)
log "verify last 100000: intact=$INTACT2 checked=$CHECKED2 in $VERIFY_RANGE_MS ms"

log "RESULT audit writes_before=$WRITES_BEFORE writes_after=$WRITES_AFTER get_plain=$GET_PLAIN get_acting_for=$GET_ACTING" \
    "chain=$TOTAL verify_ms=$VERIFY_MS verify_100k_ms=$VERIFY_RANGE_MS intact=$INTACT"
