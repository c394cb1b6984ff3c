#!/usr/bin/env bash
# The inbox of the busiest commune over the national-scale data (issue 5: "p99 of GET /v1/inbox for
# a busy commune ... target <= 100 ms on this machine").
#
#   bench/inbox.sh                  # about 1 minute; needs the national data with introductions
#                                   # (`branchlink demo --provinces 34 --members 5500000` with exchanges)
#
# 1. waits while another process works on $SCALE_DIR and starts `branchlink serve` on it, exactly
#    like bench/search.sh (own embedded cluster pinned to $PG_CPUS, or --database-url on a cluster
#    someone else runs, with a note);
# 2. finds the commune with the most items awaiting it (introductions, change notices and open
#    workplace tasks with awaiting_org_id = the commune) and creates an officer token for it
#    (`branchlink token create --org <its code> --role officer`; never printed);
# 3. `GET /v1/inbox` (first page, the API's default page size) one request at a time on one
#    keep-alive connection for $DURATION s after a $WARMUP s warm-up (bench/seqlat.py pinned to
#    CPU $LOAD_CPU);
# 4. prints p50/p90/p99/max with the load average before and after, the inbox counts, and
#    EXPLAIN (ANALYZE, BUFFERS) of the page and count statements of InboxRoutes for that commune.
# Ends with `RESULT inbox PASS|FAIL p50_ms=… p99_ms=… awaiting=… …` (PASS: p99 <= $TARGET_MS and
# every answer 200); exit 1 on FAIL, 2 on setup errors (also: no introductions in the data).
#
# Knobs: SCALE_DIR [/work/scale/.branchlink]  SCALE_PORT [18111]  DURATION [20]  WARMUP [2]
#        TARGET_MS [100]  WAIT_MINUTES [40]  PG_CPUS [0]  LOG_LEVEL [warning]
#        and those of bench/lib.sh (SKIP_BUILD, SERVER_CPU [1], LOAD_CPU [0], KEEP_TMP, …)
set -euo pipefail
LOG_LEVEL=${LOG_LEVEL:-warning}   # per-request lines are info; a sequential run needs none of them
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCALE_DIR=${SCALE_DIR:-/work/scale/.branchlink}
SCALE_PORT=${SCALE_PORT:-18111}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
TARGET_MS=${TARGET_MS:-100}
WAIT_MINUTES=${WAIT_MINUTES:-40}
PG_CPUS=${PG_CPUS-0}

bl_init inbox
bl_build branchlink

section "inbox of the busiest commune over $SCALE_DIR ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"
open_scale "$SCALE_DIR" "$SCALE_PORT" inbox || exit 2
BASE="http://127.0.0.1:$SCALE_PORT"
log "data: $(psql -X -tA "$SCALE_CONN" -c "SELECT format('~%s members, %s live introductions, %s change notices awaiting acknowledgement, %s open workplace tasks',
  (SELECT reltuples::bigint FROM pg_class WHERE oid = 'members'::regclass),
  (SELECT count(*) FROM introductions WHERE status IN ('sent', 'received', 'assigned', 'active')),
  (SELECT count(*) FROM change_notices WHERE awaiting_org_id IS NOT NULL),
  (SELECT count(*) FROM workplace_tasks WHERE awaiting_org_id IS NOT NULL AND done_at IS NULL))")"

read -r ORG_ID ORG_CODE AWAITING < <(psql -X -tA -F ' ' "$SCALE_CONN" <<'SQL'
SELECT o.id, o.code, w.n
FROM (SELECT awaiting_org_id, count(*) AS n FROM (
        SELECT awaiting_org_id FROM introductions WHERE awaiting_org_id IS NOT NULL
        UNION ALL SELECT awaiting_org_id FROM change_notices WHERE awaiting_org_id IS NOT NULL
        UNION ALL SELECT awaiting_org_id FROM workplace_tasks WHERE awaiting_org_id IS NOT NULL AND done_at IS NULL) a
      GROUP BY awaiting_org_id) w
JOIN organizations o ON o.id = w.awaiting_org_id
WHERE o.kind = 'commune'
ORDER BY w.n DESC, o.code
LIMIT 1;
SQL
) || true
if [[ -z "${ORG_ID:-}" ]]; then
  log "no commune has anything awaiting it: the data has no introductions yet (run the demo generator with exchanges first)"
  exit 2
fi
BY_KIND=$(psql -X -tA "$SCALE_CONN" -v org="$ORG_ID" <<'SQL'
SELECT format('%s introductions (%s overdue), %s change notices, %s workplace tasks',
  (SELECT count(*) FROM introductions WHERE awaiting_org_id = :'org'),
  (SELECT count(*) FROM introductions WHERE awaiting_org_id = :'org' AND due_on < hcm_today()),
  (SELECT count(*) FROM change_notices WHERE awaiting_org_id = :'org'),
  (SELECT count(*) FROM workplace_tasks WHERE awaiting_org_id = :'org' AND done_at IS NULL));
SQL
)
log "busiest commune: $ORG_CODE ($ORG_ID): $AWAITING items awaiting it: $BY_KIND"
TOKEN=$(scale_token "$ORG_CODE" officer "bench inbox officer") || { log "token create failed:"; tail -5 "$BL_TMP/token-create.log"; exit 2; }
token_works "$SCALE_PORT" "$TOKEN" || { log "the new token does not work"; exit 2; }
curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/v1/inbox" -o "$BL_TMP/inbox.json" || { log "GET /v1/inbox failed"; exit 2; }
log "GET /v1/inbox: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d items on the first page, next page: %s, counts %s" % (len(d["items"]), "yes" if d.get("next_cursor") else "no", json.dumps(d.get("counts"), sort_keys=True)))' "$BL_TMP/inbox.json")"

log ""
log "sequential GET /v1/inbox for ${DURATION} s after ${WARMUP} s warm-up (one keep-alive connection, taskset -c $LOAD_CPU); server taskset -c $SERVER_CPU"
L0=$(loadavg)
BL_TOKEN="$TOKEN" taskset -c "$LOAD_CPU" python3 "$BL_BENCH/seqlat.py" --port "$SCALE_PORT" --path /v1/inbox \
  --duration "$DURATION" --warmup "$WARMUP" --label inbox --slowest 3 --timeout 30 >"$OUT_DIR/seqlat-inbox.txt" 2>&1 || true
L1=$(loadavg)
sed 's/^/  /' "$OUT_DIR/seqlat-inbox.txt"
log "  ($L0 before, $L1 after)"
LINE=$(grep '^SEQLAT ' "$OUT_DIR/seqlat-inbox.txt" || true)
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$LINE"; }
P50=$(field p50_ms); P99=$(field p99_ms); N2=$(field non2xx); ER=$(field errors)

section "EXPLAIN (ANALYZE, BUFFERS): the inbox statements of InboxRoutes for $ORG_CODE"
# The page statement (first page, limit 50 + 1) and the counts statement, as InboxRoutes builds
# them (the three waiting sources joined with UNION ALL), with the organization inlined.
psql -X -v ON_ERROR_STOP=1 "$SCALE_CONN" -v org="$ORG_ID" <<'SQL' 2>&1 | tee "$OUT_DIR/explain.txt" | sed 's/^/  /'
EXPLAIN (ANALYZE, BUFFERS)
SELECT kind, id, action, awaiting_org_id, due_on, rank, member_id, full_name, href FROM (
    SELECT w.*, CASE WHEN w.due_on < hcm_today() THEN 0 ELSE 1 END AS rank FROM (
        SELECT 'introduction' AS kind, i.id, CASE i.status WHEN 'sent' THEN 'receive' WHEN 'received' THEN 'assign'
               ELSE 'acknowledge' END AS action, i.awaiting_org_id, i.due_on, m.id AS member_id, m.full_name,
               '/v1/introductions/' AS href
        FROM introductions i JOIN members m ON m.id = i.member_id WHERE i.awaiting_org_id = :'org'
        UNION ALL
        SELECT 'change_notice' AS kind, n.id, 'acknowledge' AS action, n.awaiting_org_id, n.due_on, m.id AS member_id, m.full_name,
               '/v1/change-notices/' AS href
        FROM change_notices n JOIN members m ON m.id = n.member_id WHERE n.awaiting_org_id = :'org'
        UNION ALL
        SELECT 'workplace_task' AS kind, t.id, CASE t.kind WHEN 'introduce_new_commune' THEN 'introduce_to_new_commune'
               ELSE 'reintroduce' END AS action, t.awaiting_org_id, t.due_on, m.id AS member_id, m.full_name, '/v1/members/' AS href
        FROM workplace_tasks t JOIN members m ON m.id = t.member_id WHERE t.awaiting_org_id = :'org' AND t.done_at IS NULL
    ) w
) x WHERE TRUE
ORDER BY rank, due_on, id LIMIT 51;
EXPLAIN (ANALYZE, BUFFERS)
SELECT kind, count(*), count(*) FILTER (WHERE due_on < hcm_today()) FROM (
    SELECT 'introduction' AS kind, i.id, CASE i.status WHEN 'sent' THEN 'receive' WHEN 'received' THEN 'assign'
           ELSE 'acknowledge' END AS action, i.awaiting_org_id, i.due_on, m.id AS member_id, m.full_name,
           '/v1/introductions/' AS href
    FROM introductions i JOIN members m ON m.id = i.member_id WHERE i.awaiting_org_id = :'org'
    UNION ALL
    SELECT 'change_notice' AS kind, n.id, 'acknowledge' AS action, n.awaiting_org_id, n.due_on, m.id AS member_id, m.full_name,
           '/v1/change-notices/' AS href
    FROM change_notices n JOIN members m ON m.id = n.member_id WHERE n.awaiting_org_id = :'org'
    UNION ALL
    SELECT 'workplace_task' AS kind, t.id, CASE t.kind WHEN 'introduce_new_commune' THEN 'introduce_to_new_commune'
           ELSE 'reintroduce' END AS action, t.awaiting_org_id, t.due_on, m.id AS member_id, m.full_name, '/v1/members/' AS href
    FROM workplace_tasks t JOIN members m ON m.id = t.member_id WHERE t.awaiting_org_id = :'org' AND t.done_at IS NULL
) w GROUP BY kind;
SQL

VERDICT=PASS
[[ -n "$P99" ]] && awk -v p="$P99" -v t="$TARGET_MS" 'BEGIN { exit !(p <= t) }' || VERDICT=FAIL
[[ "${N2:-1}" == 0 && "${ER:-1}" == 0 ]] || VERDICT=FAIL
section "inbox: summary"
log "commune $ORG_CODE, $AWAITING items awaiting it: p50 ${P50:-?} ms, p99 ${P99:-?} ms (target p99 <= $TARGET_MS ms), non-2xx ${N2:-?}, errors ${ER:-?}; $L0 before, $L1 after"
[[ -z "$SCALE_NOTE" ]] || log "NOTE: $SCALE_NOTE"
log ""
log "RESULT inbox $VERDICT p50_ms=${P50:-?} p99_ms=${P99:-?} commune=$ORG_CODE awaiting=$AWAITING$([[ -z "$SCALE_NOTE" ]] || echo " note=data-dir-in-use")"
log "output: $OUT_DIR"
[[ "$VERDICT" == PASS ]] || exit 1
