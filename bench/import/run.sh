#!/usr/bin/env bash
# Import benchmark (issue 4): a 100,000-member CSV with 1 % bad rows through
# POST /v1/imports/members, dry run and real run, beside `psql \copy` of the same valid rows into
# same-shaped tables. From anywhere:
#
#   bench/import/run.sh                     # build release, generate, start, measure, stop
#   MEMBERS=10000 REPEAT=1 bench/import/run.sh
#
# 1. builds `branchlink` in release (SKIP_BUILD=1: use it as it is);
# 2. generates organizations.csv and members.csv with bench/import/gen.py (deterministic: SEED);
# 3. starts `branchlink serve` on 127.0.0.1:$PORT (default 18095) with an embedded PostgreSQL in a
#    temporary --data-dir, creates a root admin token (`branchlink token create`; if that fails,
#    with SQL through psql on the cluster's socket), imports the organizations;
# 4. times (curl's time_total) the dry run REPEAT times, then the real run REPEAT times (the
#    members table is emptied between real runs), checks that dry and real runs report identical
#    per-row results and the expected counts; between them, times the CLI dry run
#    (`branchlink import members FILE --dry-run`, the whole process) and checks its counts;
# 5. exports the written rows and times `psql \copy` of them into members itself (emptied: the
#    same table, with its indexes, checks and foreign keys), into `LIKE members INCLUDING ALL`
#    (indexes and checks, no foreign keys) and into `LIKE members` (plain: columns only);
# 6. prints the numbers and ratios; stops the server (SIGTERM) and anything left by its PID.
#
# Knobs: MEMBERS [100000] BAD_PERCENT [1] SEED [213] REPEAT [3] PORT [18095] SKIP_BUILD [0]
#        KEEP_TMP [0] SERVER_BIN [.build/release/branchlink]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
HERE="$ROOT/bench/import"
MEMBERS=${MEMBERS:-100000}
BAD_PERCENT=${BAD_PERCENT:-1}
SEED=${SEED:-213}
REPEAT=${REPEAT:-3}
PORT=${PORT:-18095}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_TMP=${KEEP_TMP:-0}
SERVER_BIN=${SERVER_BIN:-$ROOT/.build/release/branchlink}
BASE="http://127.0.0.1:$PORT"

TMP=$(mktemp -d /tmp/branchlink-import-bench.XXXXXX)
chmod 755 "$TMP"   # the embedded cluster may run as an unprivileged user: let it reach its data dir
DATA="$TMP/data"
SERVER_PID=""

log() { printf '%s\n' "$*"; }
now() { date +%s.%N; }

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server $SERVER_PID did not stop in 30 s: SIGKILL"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  # A PostgreSQL left running in our data dir (server killed): stop it by the PID it recorded.
  local pidfile pgpid
  [[ -d "$DATA" ]] || return 0
  while IFS= read -r pidfile; do
    pgpid=$(head -n 1 "$pidfile" 2>/dev/null || true)
    [[ "$pgpid" =~ ^[0-9]+$ ]] || continue
    kill -0 "$pgpid" 2>/dev/null || continue
    log "stopping PostgreSQL $pgpid left in $(dirname "$pidfile")"
    kill -INT "$pgpid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$pgpid" 2>/dev/null || break
      sleep 0.1
    done
  done < <(find "$DATA" -maxdepth 4 -name postmaster.pid 2>/dev/null)
}

cleanup() {
  local rc=$?
  stop_server
  if [[ "$KEEP_TMP" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "== build (release)"
  swift build -c release --product branchlink
fi

log "== generate ($MEMBERS members, $BAD_PERCENT % bad, seed $SEED)"
python3 "$HERE/gen.py" --out "$TMP" --members "$MEMBERS" --bad-percent "$BAD_PERCENT" --seed "$SEED"
ls -l "$TMP"/*.csv

log "== start branchlink serve on 127.0.0.1:$PORT"
if python3 -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1',$PORT))==0 else 1)"; then
  log "something already listens on 127.0.0.1:$PORT: set PORT"; exit 1
fi
"$SERVER_BIN" serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --log-level warning >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 1800); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited:"; tail -n 30 "$TMP/server.log"; exit 1; }
  sleep 0.1
done
curl -fsS "$BASE/readyz" >/dev/null || { log "server not ready:"; tail -n 30 "$TMP/server.log"; exit 1; }
log "server pid $SERVER_PID"

# psql on the embedded cluster's socket (postmaster.pid: line 4 port, line 5 socket directory).
PIDFILE=$(find "$DATA" -maxdepth 4 -name postmaster.pid | head -n 1)
PGPORT_=$(sed -n 4p "$PIDFILE")
PGHOST_=$(sed -n 5p "$PIDFILE")
PSQL=$(command -v psql || true)
if [[ -z "$PSQL" ]]; then
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/psql" ]] && PSQL="$d/psql"; done
fi
[[ -n "$PSQL" ]] || { log "psql not found"; exit 1; }
psqlc() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST_" -p "$PGPORT_" -U branchlink -d branchlink "$@"; }

log "== admin token"
if TOKEN=$("$SERVER_BIN" token create --org TW --role admin --name "import bench" --data-dir "$DATA" 2>"$TMP/token.err") && [[ -n "$TOKEN" ]]; then
  log "token from \`branchlink token create\`"
else
  log "\`branchlink token create\` failed ($(tail -n 1 "$TMP/token.err")): creating the token with SQL"
  TOKEN="blk_importbench$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  psqlc -c "WITH a AS (INSERT INTO accounts (org_id, role, name) SELECT id, 'admin', 'import bench' FROM organizations WHERE code = 'TW' RETURNING id)
            INSERT INTO tokens (account_id, name, token_hash) SELECT id, 'import bench', digest('$TOKEN', 'sha256') FROM a"
fi

post() {  # post KIND QUERY FILE OUT → prints "status seconds"
  curl -sS -o "$4" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: text/csv; charset=utf-8' --data-binary @"$3" "$BASE/v1/imports/$1?$2"
}

log "== organizations"
read -r status secs < <(post organizations "" "$TMP/organizations.csv" "$TMP/orgs.json")
python3 - "$TMP/orgs.json" "$status" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"organizations: HTTP {sys.argv[2]} rows={r['rows']} ok={r['ok']} written={r['written']}")
sys.exit(0 if sys.argv[2] == "200" and r["failed"] == 0 else 1)
EOF

median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

log "== members: dry run x$REPEAT"
DRY=()
for i in $(seq 1 "$REPEAT"); do
  read -r status secs < <(post members "dry_run=true" "$TMP/members.csv" "$TMP/dry.json")
  log "dry run $i: HTTP $status, $secs s"
  [[ "$status" == 200 ]] || { head -c 500 "$TMP/dry.json"; exit 1; }
  DRY+=("$secs")
done

log "== CLI: branchlink import members --dry-run"
t0=$(now)
set +e
"$SERVER_BIN" import members "$TMP/members.csv" --dry-run --data-dir "$DATA" >"$TMP/cli.txt" 2>"$TMP/cli.err"
cli_rc=$?
set -e
t1=$(now)
CLI=$(python3 -c "print(f'{$t1-$t0:.3f}')")
log "$(head -n 1 "$TMP/cli.txt") (exit $cli_rc; failed rows listed: $(($(wc -l <"$TMP/cli.txt") - 1)))"
[[ $cli_rc == 2 ]] || { cat "$TMP/cli.err"; exit 1; }
python3 - "$TMP/cli.txt" "$TMP/expected.json" <<'EOF'
import json, re, sys
first = open(sys.argv[1]).readline()
exp = json.load(open(sys.argv[2]))
m = re.match(r"members: (\d+) rows, (\d+) ok, (\d+) failed", first)
sys.exit(0 if m and [int(x) for x in m.groups()] == [exp["rows"], exp["ok"], exp["failed"]] else 1)
EOF

log "== members: real run x$REPEAT (members emptied between runs)"
REAL=()
for i in $(seq 1 "$REPEAT"); do
  if [[ $i -gt 1 ]]; then psqlc -c "TRUNCATE members CASCADE" -c "VACUUM ANALYZE members" 2>/dev/null; fi
  read -r status secs < <(post members "" "$TMP/members.csv" "$TMP/real.json")
  log "real run $i: HTTP $status, $secs s"
  [[ "$status" == 200 ]] || { head -c 500 "$TMP/real.json"; exit 1; }
  REAL+=("$secs")
done

python3 - "$TMP/dry.json" "$TMP/real.json" "$TMP/expected.json" <<'EOF'
import json, sys
dry, real, exp = (json.load(open(p)) for p in sys.argv[1:4])
same = dry["results"] == real["results"]
print(f"dry:  rows={dry['rows']} ok={dry['ok']} failed={dry['failed']} written={dry['written']}")
print(f"real: rows={real['rows']} ok={real['ok']} failed={real['failed']} written={real['written']}")
print(f"dry run and real run per-row results identical: {same}")
codes = {}
for r in real["results"]:
    for e in r["errors"]:
        codes[f"{e['column']}:{e['code']}"] = codes.get(f"{e['column']}:{e['code']}", 0) + 1
print("errors by column:code:", json.dumps(codes, sort_keys=True))
ok = same and real["rows"] == exp["rows"] and real["failed"] == exp["failed"] and real["written"] == exp["ok"] and dry["written"] == 0
sys.exit(0 if ok else 1)
EOF
WRITTEN=$(psqlc -At -c "SELECT count(*) FROM members")
log "members in the table: $WRITTEN"

log "== psql \\copy of the same $WRITTEN rows x$REPEAT"
psqlc -c "\\copy (SELECT * FROM members ORDER BY party_card_number) TO '$TMP/members_rows.csv' WITH (FORMAT csv)"
psqlc -c "CREATE TABLE bench_plain (LIKE members)" -c "CREATE TABLE bench_indexed (LIKE members INCLUDING ALL)"
PLAIN=()
INDEXED=()
SAME=()
for i in $(seq 1 "$REPEAT"); do
  psqlc -c "TRUNCATE bench_plain, bench_indexed" -c "TRUNCATE members CASCADE" -c "CHECKPOINT"
  t0=$(now); psqlc -c "\\copy bench_plain FROM '$TMP/members_rows.csv' WITH (FORMAT csv)"; t1=$(now)
  psqlc -c "\\copy bench_indexed FROM '$TMP/members_rows.csv' WITH (FORMAT csv)"; t2=$(now)
  psqlc -c "\\copy members FROM '$TMP/members_rows.csv' WITH (FORMAT csv)"; t3=$(now)
  p=$(python3 -c "print(f'{$t1-$t0:.3f}')"); x=$(python3 -c "print(f'{$t2-$t1:.3f}')"); m=$(python3 -c "print(f'{$t3-$t2:.3f}')")
  log "psql \\copy $i: plain $p s, indexed $x s, members itself $m s"
  PLAIN+=("$p"); INDEXED+=("$x"); SAME+=("$m")
done

D=$(median "${DRY[@]}"); R=$(median "${REAL[@]}"); P=$(median "${PLAIN[@]}"); I=$(median "${INDEXED[@]}"); S=$(median "${SAME[@]}")
log ""
log "== RESULT import of $MEMBERS members ($BAD_PERCENT % bad), medians of $REPEAT, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
log "   HTTP dry run                    ${D} s"
log "   HTTP real run                   ${R} s"
log "   psql \\copy into members itself ${S} s   (the same table: its indexes, checks and foreign keys)"
log "   psql \\copy, indexed copy       ${I} s   (LIKE members INCLUDING ALL: indexes and checks, no foreign keys)"
log "   psql \\copy, plain copy         ${P} s   (LIKE members: columns only)"
log "   CLI dry run (process total)     ${CLI} s"
python3 - "$D" "$R" "$S" "$I" "$P" <<'EOF'
import sys
d, r, s, i, p = map(float, sys.argv[1:])
print(f"   real run / psql into members = {r / s:.2f}x  (target <= 1.5x)")
print(f"   real run / psql indexed copy = {r / i:.2f}x   real run / psql plain copy = {r / p:.2f}x")
print(f"   dry run  / psql plain copy   = {d / p:.2f}x")
EOF
