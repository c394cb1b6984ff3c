#!/usr/bin/env bash
# A national annual assessment campaign over the national-scale data (issue 6: "~2 M eligible
# members: generation time ... target <= 2 minutes on this machine, and re-run time showing no
# duplicates").
#
#   RESET=1 bench/campaign.sh                       # ~5-10 min on first use (the top-up below)
#   SCALE_DIR=/work/scale-campaign/.branchlink RESET=1 bench/campaign.sh
#
# 1. waits while another process works on $SCALE_DIR (bench/lib.sh open_scale), then starts
#    `branchlink serve` on its embedded cluster (migrated on start), PostgreSQL on every CPU
#    (PG_CPUS, default all: generation is set-based SQL, the work is PostgreSQL's);
# 2. tops the data up to $TARGET_ELIGIBLE eligible members (active link, exemption none): the demo
#    generator introduces ~1 M members nationally; the top-up gives members without a live link an
#    active one to a branch of their residence commune (set-based SQL, introduction numbers
#    "BENCH-…", no events: setup, not measured). Idempotent: nothing is added once the target holds;
# 3. this year's annual requests already there: RESET=1 deletes them (with their forms and their
#    `assessment_request.created` events) so the generation is measured again; without RESET it stops;
# 4. a root (TW) admin token (`branchlink token create`), then `POST /v1/assessment-campaigns`
#    {year, org_id: TW, due_on} → 202; polls `GET /{id}` every 15 s (it counts the campaign's requests by state: ~1 s of PostgreSQL
#    time at two million, kept out of the measured generation's way) until done and prints progress:
#    generation time = from the POST to `finished_at`;
# 5. the same POST again (re-run): its time, `created` (must be 0) and `skipped_existing`;
# 6. checks in SQL: annual requests of the year = distinct members = the first run's `created`,
#    and one `assessment_request.created` event per request; times one `GET /{id}` (counts by state).
# Ends with `RESULT campaign PASS|FAIL generation_s=… rerun_s=… eligible=… created=… duplicates=…`
# (PASS: generation <= $TARGET_S and no duplicate); exit 1 on FAIL, 2 on setup errors.
#
# Knobs: SCALE_DIR [/work/scale/.branchlink]  SCALE_PORT [18121]  TARGET_ELIGIBLE [2000000]
#        TARGET_S [120]  RESET [0]  WAIT_MINUTES [40]  PG_CPUS [all]
set -euo pipefail
LOG_LEVEL=${LOG_LEVEL:-warning}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCALE_DIR=${SCALE_DIR:-/work/scale/.branchlink}
SCALE_PORT=${SCALE_PORT:-18121}
TARGET_ELIGIBLE=${TARGET_ELIGIBLE:-2000000}
TARGET_S=${TARGET_S:-120}
RESET=${RESET:-0}
# The embedded cluster is started by the server, pinned to SERVER_CPU, and would inherit that one
# CPU: generation is PostgreSQL's work, on every CPU (the campaign runner has two workers).
PG_CPUS=${PG_CPUS-0-$(($(nproc) - 1))}

bl_init campaign
bl_build branchlink

section "national campaign over $SCALE_DIR ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"
open_scale "$SCALE_DIR" "$SCALE_PORT" campaign || exit 2
BASE="http://127.0.0.1:$SCALE_PORT"
sql() { psql -X -q -v ON_ERROR_STOP=1 -tA -F ' ' "$SCALE_CONN" "$@"; }
YEAR=$(sql -c "SELECT extract(year FROM hcm_today())::int")
DUE=$(sql -c "SELECT GREATEST(hcm_today() + 21, make_date($YEAR, 12, 15))")
ELIGIBLE_SQL="SELECT count(*) FROM introductions i JOIN members m ON m.id = i.member_id WHERE i.status = 'active' AND m.exemption = 'none'"

read -r MEMBERS ELIGIBLE < <(sql -c "SELECT (SELECT count(*) FROM members), ($ELIGIBLE_SQL)")
log "data: $MEMBERS members, $ELIGIBLE eligible (active link, exemption none); target $TARGET_ELIGIBLE"
if ((ELIGIBLE < TARGET_ELIGIBLE)); then
  NEED=$((TARGET_ELIGIBLE - ELIGIBLE))
  log "top-up: $NEED members without a live link get an active one (setup, not measured) …"
  T0=$(date +%s.%N)
  sql -v need="$NEED" <<'SQL'
SET synchronous_commit = off;
SET jit = off;
SET work_mem = '256MB';
INSERT INTO introductions (number, year, member_id, workplace_id, commune_id, branch_id, workplace_path, commune_path, branch_path,
    status, received_on, assigned_on, acknowledged_on, created_at, updated_at)
SELECT 'BENCH-' || md5(p.id::text), extract(year FROM hcm_today())::int, p.id, p.workplace_org_id, c.id, b.id, p.workplace_path,
       c.path, b.path, 'active', hcm_today() - 60, hcm_today() - 55, hcm_today() - 50, now(), now()
FROM (SELECT m.id, m.workplace_org_id, m.workplace_path, m.residence_commune_id FROM members m
      WHERE m.exemption = 'none'
        AND NOT EXISTS (SELECT 1 FROM introductions i WHERE i.member_id = m.id AND i.status IN ('sent', 'received', 'assigned', 'active'))
      ORDER BY m.id LIMIT :need) p
JOIN organizations c ON c.id = p.residence_commune_id AND c.kind = 'commune' AND c.valid_to IS NULL
CROSS JOIN LATERAL (SELECT o.id, o.path FROM organizations o WHERE o.parent_id = c.id AND o.kind = 'branch' AND o.valid_to IS NULL
                    ORDER BY md5(p.id::text || o.id::text) LIMIT 1) b;
ANALYZE introductions;
SQL
  ELIGIBLE=$(sql -c "$ELIGIBLE_SQL")
  log "top-up done in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s: $ELIGIBLE eligible"
fi

EXISTING=$(sql -c "SELECT count(*) FROM assessment_requests WHERE purpose = 'annual' AND year = $YEAR")
if ((EXISTING > 0)) || [[ "$RESET" == 1 ]]; then
  if [[ "$RESET" != 1 ]]; then log "$EXISTING annual requests of $YEAR exist already: RESET=1 deletes them to measure again"; exit 2; fi
  log "RESET=1: deleting $EXISTING annual requests of $YEAR (forms, meeting links, events) …"
  sql <<SQL
SET synchronous_commit = off;
DELETE FROM assessment_forms f USING assessment_requests r WHERE f.request_id = r.id AND r.purpose = 'annual' AND r.year = $YEAR;
DELETE FROM events e USING assessment_requests r WHERE e.entity_type = 'assessment_request' AND e.entity_id = r.id AND r.purpose = 'annual' AND r.year = $YEAR;
DELETE FROM assessment_requests WHERE purpose = 'annual' AND year = $YEAR;
CREATE TEMP TABLE gone AS SELECT id FROM assessment_campaigns c
  WHERE year = $YEAR AND NOT EXISTS (SELECT 1 FROM assessment_requests r WHERE r.campaign_id = c.id);
DELETE FROM assessment_campaign_chunks WHERE campaign_id IN (SELECT id FROM gone);
DELETE FROM assessment_campaign_dues WHERE campaign_id IN (SELECT id FROM gone);
DELETE FROM assessment_campaigns WHERE id IN (SELECT id FROM gone);
VACUUM ANALYZE assessment_requests;
VACUUM ANALYZE events;
SQL
fi

ROOT_TOKEN=$(scale_token TW admin "bench campaign root admin") || { log "token create failed:"; tail -5 "$BL_TMP/token-create.log"; exit 2; }
token_works "$SCALE_PORT" "$ROOT_TOKEN" || { log "the root token does not work"; exit 2; }
ROOT_ID=$(sql -c "SELECT id FROM organizations WHERE code = 'TW'")
export ROOT_TOKEN

# campaign_status.py FILE progress|summary: one line from a status resource (kept in a file: a
# here-document inside a process substitution made bash run the function body twice).
cat >"$BL_TMP/campaign_status.py" <<'PY'
import json, sys
from datetime import datetime
d = json.load(open(sys.argv[1])); c = d["counts"]; p = d["progress"]
if sys.argv[2] == "progress":
    print(f'{p["percent"]:3d} %  chunks {p["chunks_done"]}/{p["chunks_total"]}  created {c["created"]:,}  '
          f'skipped existing {c["skipped_existing"]:,}  exempt {c["skipped_exempt"]:,}')
else:
    t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    secs = (t(d["finished_at"]) - t(d["created_at"])).total_seconds() if d.get("finished_at") else -1
    print(f'{secs:.1f} {c["created"]} {c["skipped_existing"]} {c["eligible"]} {c["skipped_exempt"]} {c["skipped_not_active"]} {d["status"]}')
PY

# run_campaign LABEL: POST, then poll until done; prints progress; sets SECONDS_TAKEN, CREATED,
# SKIPPED, ELIG, GET_LOCATION.
run_campaign() {
  local label=$1 t0 code location status i summary
  t0=$(date +%s.%N)
  code=$(curl -sS -o "$BL_TMP/post.json" -D "$BL_TMP/post.headers" -w '%{http_code}' -H "Authorization: Bearer $ROOT_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"year\": $YEAR, \"org_id\": \"$ROOT_ID\", \"due_on\": \"$DUE\"}" "$BASE/v1/assessment-campaigns")
  log "$label: POST /v1/assessment-campaigns → $code in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
  [[ "$code" == 202 || "$code" == 201 ]] || { cat "$BL_TMP/post.json"; return 1; }
  location=$(awk 'tolower($1) == "location:" { print $2 }' "$BL_TMP/post.headers" | tr -d '\r')
  for ((i = 0; i < 240; i++)); do
    curl -sS -H "Authorization: Bearer $ROOT_TOKEN" "$BASE$location" >"$BL_TMP/status.json"
    status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$BL_TMP/status.json")
    [[ "$status" == running ]] || break
    log "  $(python3 "$BL_TMP/campaign_status.py" "$BL_TMP/status.json" progress)"
    sleep 15
  done
  summary=$(python3 "$BL_TMP/campaign_status.py" "$BL_TMP/status.json" summary)
  read -r SECONDS_TAKEN CREATED SKIPPED ELIG EXEMPT NOTACTIVE STATE <<<"$summary"
  log "$label: $STATE in $SECONDS_TAKEN s (created_at → finished_at): eligible $ELIG, created $CREATED, skipped existing $SKIPPED, exempt (HD 33 §1.1) $EXEMPT, link not active $NOTACTIVE ($(loadavg))"
  GET_LOCATION=$location
}

section "generation"
run_campaign first || exit 2
GEN_S=$SECONDS_TAKEN; GEN_CREATED=$CREATED; GEN_ELIGIBLE=$ELIG
T0=$(date +%s.%N)
curl -sS -o /dev/null -H "Authorization: Bearer $ROOT_TOKEN" "$BASE$GET_LOCATION"
log "GET $GET_LOCATION (counts by state over $GEN_CREATED requests): $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms"

section "re-run"
run_campaign rerun || exit 2
RERUN_S=$SECONDS_TAKEN; RERUN_CREATED=$CREATED

read -r REQUESTS DISTINCT EVENTS < <(sql -c "
  SELECT count(*), count(DISTINCT member_id),
         (SELECT count(*) FROM events e WHERE e.type = 'assessment_request.created' AND e.entity_id IN
            (SELECT id FROM assessment_requests WHERE purpose = 'annual' AND year = $YEAR))
  FROM assessment_requests WHERE purpose = 'annual' AND year = $YEAR")
DUPLICATES=$((REQUESTS - DISTINCT))
log "annual requests of $YEAR: $REQUESTS for $DISTINCT members (duplicates: $DUPLICATES); created events: $EVENTS"
log "database size $(sql -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"

VERDICT=PASS
awk -v s="$GEN_S" -v t="$TARGET_S" 'BEGIN { exit !(s >= 0 && s <= t) }' || VERDICT=FAIL
((DUPLICATES == 0 && RERUN_CREATED == 0 && REQUESTS == GEN_CREATED && EVENTS == REQUESTS)) || VERDICT=FAIL
[[ -z "$SCALE_NOTE" ]] || log "NOTE: $SCALE_NOTE"
log ""
log "RESULT campaign $VERDICT generation_s=$GEN_S rerun_s=$RERUN_S eligible=$GEN_ELIGIBLE created=$GEN_CREATED rerun_created=$RERUN_CREATED duplicates=$DUPLICATES target_s=$TARGET_S"
log "output: $OUT_DIR"
[[ "$VERDICT" == PASS ]] || exit 1
