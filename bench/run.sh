#!/usr/bin/env bash
# Branchlink's own benchmark runner. From anywhere:
#
#   bench/run.sh                          # build, peer comparison, robustness scenarios
#   SKIP_PEERS=1 bench/run.sh             # robustness scenarios only
#   SCENARIOS="slowloris idle" SKIP_PEERS=1 bench/run.sh
#   MEASURE="member_lookup introduce_batch" SKIP_PEERS=1 SKIP_ROBUSTNESS=1 bench/run.sh
#   MEASURE=all SKIP_PEERS=1 SKIP_ROBUSTNESS=1 bench/run.sh   # also search and inbox (national data)
#
# 1. builds the release products BenchServer and branchlink (SKIP_BUILD=1: use them as they are;
#    the variable also reaches peers.sh, which then skips building the peers);
# 2. peer comparison: ../shared/bench/peers.sh with MAIN_BIN=.build/release/BenchServer
#    (PEERS, REPEAT; see the top of peers.sh for its other knobs: DURATION, CONNS, ...);
# 3. robustness scenarios (bench/robustness/*.py, Python standard library only), each against a
#    fresh release `branchlink serve` that this script starts on 127.0.0.1:$ROBUST_PORT with an
#    embedded PostgreSQL cluster in a temporary --data-dir;
# 4. optional measurements of issues 4 and 5 (MEASURE, default none): bench/member_lookup.sh,
#    bench/introduce_batch.sh, bench/search.sh and bench/inbox.sh (the last two on the
#    national-scale data in SCALE_DIR); each prints its figures and a RESULT line;
# 5. prints a summary; exits 1 if any part failed.
#
# Every process this script starts is stopped by its PID when it exits (also on error or Ctrl-C);
# the embedded PostgreSQL is stopped by the server, or else by the PID in its postmaster.pid.
# Output goes to bench/out/<timestamp>/ (git-ignored).
#
# Knobs (defaults in brackets):
#   PEERS ["hummingbird nginx"]  REPEAT [3]  SKIP_PEERS [0]  SKIP_ROBUSTNESS [0]  SKIP_BUILD [0]
#   SCENARIOS ["resets short_conns slowloris idle fd_limit"]
#   ROBUST_PORT [18090]  ROBUST_LOG_LEVEL [warning]  SERVER_BIN [.build/release/branchlink]
#   HEADER_TIMEOUT_MS [3000] (slowloris)  FD_LIMIT [256] (fd_limit: the server's ulimit -n)
#   SHORT_CONNS [100000]  RESET_CLIENTS [1000]  IDLE_CONNS [1000]  IDLE_HOLD [20]
#   SLOW_CLIENTS [200]  FD_CLIENTS [400]  KEEP_TMP [0] (1: keep the temporary data directory)
#   MEASURE [""]: any of "member_lookup introduce_batch search inbox campaign exports reports audit", or "all"; their own knobs
#   (DURATION, REPEAT, PROFILE, SCALE_DIR, WAIT_MINUTES, ...) pass through the environment; see the
#   top of each script and bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HERE="$ROOT/bench"
ROBUST="$HERE/robustness"

PEERS=${PEERS:-"hummingbird nginx"}
REPEAT=${REPEAT:-3}
SKIP_PEERS=${SKIP_PEERS:-0}
SKIP_ROBUSTNESS=${SKIP_ROBUSTNESS:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SCENARIOS=${SCENARIOS:-"resets short_conns slowloris idle fd_limit"}
ROBUST_PORT=${ROBUST_PORT:-18090}
ROBUST_LOG_LEVEL=${ROBUST_LOG_LEVEL:-warning}
SERVER_BIN=${SERVER_BIN:-$ROOT/.build/release/branchlink}
HEADER_TIMEOUT_MS=${HEADER_TIMEOUT_MS:-3000}
FD_LIMIT=${FD_LIMIT:-256}
SHORT_CONNS=${SHORT_CONNS:-100000}
RESET_CLIENTS=${RESET_CLIENTS:-1000}
IDLE_CONNS=${IDLE_CONNS:-1000}
IDLE_HOLD=${IDLE_HOLD:-20}
SLOW_CLIENTS=${SLOW_CLIENTS:-200}
FD_CLIENTS=${FD_CLIENTS:-400}
KEEP_TMP=${KEEP_TMP:-0}
MEASURE=${MEASURE:-}
[[ "$MEASURE" != all ]] || MEASURE="member_lookup introduce_batch search inbox campaign exports reports audit"
PEERS_SH=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}

OUT="$HERE/out/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/branchlink-bench.XXXXXX)
chmod 755 "$TMP"   # the embedded cluster may run as an unprivileged user: let it reach its data dir
DATA="$TMP/data"

SERVER_PID=""
declare -a SUMMARY=()
FAILED=0

log() { printf '%s\n' "$*"; }
section() { printf '\n=== %s ===\n' "$*"; }

# Stop the server started last: SIGTERM (graceful drain), then SIGKILL after 30 s.
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
  stop_postmaster
}

# A PostgreSQL left running in our data dir (server killed): stop it by the PID it recorded.
stop_postmaster() {
  local pidfile pgpid
  [[ -d "$DATA" ]] || return 0
  while IFS= read -r pidfile; do
    pgpid=$(head -n 1 "$pidfile" 2>/dev/null || true)
    [[ "$pgpid" =~ ^[0-9]+$ ]] || continue
    kill -0 "$pgpid" 2>/dev/null || continue
    log "stopping PostgreSQL $pgpid left in $(dirname "$pidfile")"
    kill -INT "$pgpid" 2>/dev/null || true   # fast shutdown
    for _ in $(seq 1 200); do
      kill -0 "$pgpid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pgpid" 2>/dev/null && kill -QUIT "$pgpid" 2>/dev/null || true
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

port_busy() { python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

# start_server LABEL NOFILE [extra serve options...]   (NOFILE 0 = inherit ulimit -n)
start_server() {
  local label=$1 nofile=$2
  shift 2
  local logf="$OUT/server-$label.log"
  if port_busy "$ROBUST_PORT"; then
    log "something already listens on 127.0.0.1:$ROBUST_PORT: set ROBUST_PORT"
    return 1
  fi
  local -a cmd=("$SERVER_BIN" serve --host 127.0.0.1 --port "$ROBUST_PORT" --data-dir "$DATA"
                --log-level "$ROBUST_LOG_LEVEL" --drain-timeout-ms 3000 "$@")
  log "starting (ulimit -n ${nofile/#0/unchanged}): ${cmd[*]}"
  if [[ "$nofile" != 0 ]]; then
    # `exec` keeps the PID: $! is the server itself.
    bash -c 'ulimit -n "$0" && exec "$@"' "$nofile" "${cmd[@]}" >"$logf" 2>&1 &
  else
    "${cmd[@]}" >"$logf" 2>&1 &
  fi
  SERVER_PID=$!
  if ! python3 "$ROBUST/common.py" wait --port "$ROBUST_PORT" --pid "$SERVER_PID" --timeout 180; then
    log "server did not come up; last lines of $logf:"
    tail -n 30 "$logf" || true
    stop_server
    return 1
  fi
  log "server pid $SERVER_PID up on 127.0.0.1:$ROBUST_PORT (log: $logf)"
}

# run_scenario NAME NOFILE "serve options" script options...
run_scenario() {
  local name=$1 nofile=$2 serve_opts=$3
  shift 3
  section "robustness: $name"
  local rc=0 line
  # shellcheck disable=SC2086  # serve_opts is a word list on purpose
  if ! start_server "$name" "$nofile" $serve_opts; then
    SUMMARY+=("$name: FAIL (server did not start)")
    FAILED=1
    return 0
  fi
  set +e
  python3 "$ROBUST/$name.py" --port "$ROBUST_PORT" --pid "$SERVER_PID" "$@" 2>&1 | tee "$OUT/$name.txt"
  rc=${PIPESTATUS[0]}
  set -e
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "!! the server exited during $name; last lines of its log:"
    tail -n 30 "$OUT/server-$name.log" || true
    rc=1
  fi
  stop_server
  line=$(grep -E '^RESULT ' "$OUT/$name.txt" | tail -n 1 || true)
  if [[ $rc -eq 0 ]]; then
    SUMMARY+=("${line:-RESULT $name PASS}")
  else
    SUMMARY+=("${line:-RESULT $name FAIL (exit $rc)}")
    FAILED=1
  fi
}

section "environment"
log "date: $(date -u +%FT%TZ)  host: $(uname -srm)  cores: $(nproc)"
swift --version 2>&1 | head -n 1
python3 --version
log "output: $OUT"

if [[ "$SKIP_BUILD" != 1 ]]; then
  section "build (release)"
  swift build -c release --product BenchServer
  swift build -c release --product branchlink
fi

if [[ "$SKIP_PEERS" != 1 ]]; then
  section "peer comparison: PEERS=\"$PEERS\" REPEAT=$REPEAT"
  if [[ ! -f "$PEERS_SH" ]]; then
    log "no $PEERS_SH: skipped"
    SUMMARY+=("peers: SKIPPED (no peers.sh)")
  else
    set +e
    MAIN_BIN="$ROOT/.build/release/BenchServer" PEERS="$PEERS" REPEAT="$REPEAT" \
      bash "$PEERS_SH" 2>&1 | tee "$OUT/peers.txt"
    rc=${PIPESTATUS[0]}
    set -e
    if [[ $rc -eq 0 ]]; then
      SUMMARY+=("peers: done (table in $OUT/peers.txt)")
    else
      SUMMARY+=("peers: FAIL (exit $rc, see $OUT/peers.txt)")
      FAILED=1
    fi
  fi
fi

if [[ "$SKIP_ROBUSTNESS" != 1 ]]; then
  [[ -x "$SERVER_BIN" ]] || { log "no server binary $SERVER_BIN"; exit 1; }
  for s in $SCENARIOS; do
    case "$s" in
      resets)      run_scenario resets 0 "" --clients "$RESET_CLIENTS" ;;
      short_conns) run_scenario short_conns 0 "" --connections "$SHORT_CONNS" ;;
      slowloris)   run_scenario slowloris 0 "--header-timeout-ms $HEADER_TIMEOUT_MS" \
                     --clients "$SLOW_CLIENTS" --header-timeout-ms "$HEADER_TIMEOUT_MS" ;;
      idle)        run_scenario idle 0 "" --connections "$IDLE_CONNS" --hold "$IDLE_HOLD" ;;
      fd_limit)    run_scenario fd_limit "$FD_LIMIT" "" --connections "$FD_CLIENTS" ;;
      *) log "unknown scenario $s"; SUMMARY+=("$s: unknown scenario"); FAILED=1 ;;
    esac
  done
fi

for m in $MEASURE; do
  case "$m" in
    member_lookup | introduce_batch | search | inbox | campaign | exports | reports | audit) ;;
    *) log "unknown measurement $m"; SUMMARY+=("$m: unknown measurement"); FAILED=1; continue ;;
  esac
  section "measurement: $m"
  set +e
  # The products were built above (or SKIP_BUILD=1 said to use them as they are).
  SKIP_BUILD=1 SERVER_BIN="$SERVER_BIN" OUT_DIR="$OUT/$m" bash "$HERE/$m.sh" 2>&1 | tee "$OUT/$m.txt"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^RESULT ' "$OUT/$m.txt" | tail -n 1 || true)
  if [[ $rc -eq 0 ]]; then
    SUMMARY+=("${line:-RESULT $m PASS}")
  else
    SUMMARY+=("${line:-RESULT $m FAIL (exit $rc)}")
    FAILED=1
  fi
done

section "summary"
for l in "${SUMMARY[@]}"; do log "$l"; done
if [[ -f "$OUT/peers.txt" ]]; then
  log ""
  log "peer table:"
  # peers.sh prints "## results" ... "CPU steal ..." before the raw wrk output
  sed -n '/^## results/,/^CPU steal/p' "$OUT/peers.txt" || true
fi
log ""
log "all output in $OUT"
exit "$FAILED"
