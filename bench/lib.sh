# Shared helpers of the measurement scripts (member_lookup.sh, search.sh, inbox.sh,
# introduce_batch.sh). Sourced, not run. Everything listens on and targets 127.0.0.1 only; every
# process started through these helpers is stopped by its PID when the script exits (also on
# error or Ctrl-C): servers with SIGTERM then SIGKILL after 30 s, an embedded PostgreSQL left
# behind in a data directory we started by the PID in its postmaster.pid (fast, then immediate
# shutdown). Server output goes to the scratch directory only (demo start-up prints tokens).
#
# Common knobs: SKIP_BUILD [0]  SERVER_CPU [1]  LOAD_CPU [0]  LOG_LEVEL [info]  KEEP_TMP [0]
#               OUT_DIR [bench/out/<timestamp>-<name>]  (raw outputs of the run and output.txt, a
#               copy of everything the script prints)

BL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BL_BENCH="$BL_ROOT/bench"
BL_BIN=${SERVER_BIN:-$BL_ROOT/.build/release/branchlink}
BL_BENCH_SERVER=${BENCH_SERVER_BIN:-$BL_ROOT/.build/release/BenchServer}
SKIP_BUILD=${SKIP_BUILD:-0}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
LOG_LEVEL=${LOG_LEVEL:-info}
KEEP_TMP=${KEEP_TMP:-0}

declare -a BL_PIDS=()       # processes we started, stopped in reverse order
declare -a BL_PIDNAMES=()
declare -a BL_DATADIRS=()   # data dirs whose embedded PostgreSQL we started (through a server)
BL_TMP=""

log() { printf '%s\n' "$*"; }
section() { printf '\n=== %s ===\n' "$*"; }
# "load 1.23 1.10 0.98" (1, 5 and 15 minute load averages of the machine, from /proc/loadavg)
loadavg() { awk '{ printf "load %s %s %s", $1, $2, $3 }' /proc/loadavg; }
load1() { awk '{ print $1 }' /proc/loadavg; }

# bl_init NAME: scratch dir (mode 755: the embedded cluster may run as an unprivileged user) and
# the output directory; installs the cleanup trap.
bl_init() {
  local name=$1
  BL_TMP=$(mktemp -d "/tmp/bl-$name.XXXXXX")
  chmod 755 "$BL_TMP"
  OUT_DIR=${OUT_DIR:-$BL_BENCH/out/$(date +%Y%m%d-%H%M%S)-$name}
  mkdir -p "$OUT_DIR"
  # Everything the script prints is also kept in $OUT_DIR/output.txt (it never prints a token).
  exec > >(tee -a "$OUT_DIR/output.txt") 2>&1
  trap bl_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bl_cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#BL_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${BL_PIDS[$i]}" "${BL_PIDNAMES[$i]}"
  done
  for d in "${BL_DATADIRS[@]}"; do stop_postmaster "$d"; done
  if [[ -n "$BL_TMP" && -d "$BL_TMP" ]]; then
    if [[ "$KEEP_TMP" == 1 ]]; then log "kept $BL_TMP"; else rm -rf "$BL_TMP"; fi
  fi
  exit "$rc"
}

# stop_pid PID NAME: SIGTERM (graceful drain), SIGKILL after 30 s.
stop_pid() {
  local pid=$1 name=$2 i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop in 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# forget_pid PID: after stopping it ourselves.
forget_pid() {
  local i
  for i in "${!BL_PIDS[@]}"; do
    [[ "${BL_PIDS[$i]}" == "$1" ]] && unset 'BL_PIDS[i]' 'BL_PIDNAMES[i]'
  done
  BL_PIDS=("${BL_PIDS[@]}"); BL_PIDNAMES=("${BL_PIDNAMES[@]}")
}

# A PostgreSQL still running in DATADIR/pg/data after its server stopped: stop it by its PID.
stop_postmaster() {
  local dir=$1 pidfile pgpid i
  pidfile="$dir/pg/data/postmaster.pid"
  [[ -f "$pidfile" ]] || return 0
  pgpid=$(head -n 1 "$pidfile" 2>/dev/null || true)
  [[ "$pgpid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pgpid" 2>/dev/null || return 0
  log "stopping PostgreSQL $pgpid left in $dir"
  kill -INT "$pgpid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pgpid" 2>/dev/null || return 0; sleep 0.1; done
  kill -QUIT "$pgpid" 2>/dev/null || true
}

# build: the release products, unless SKIP_BUILD=1 (one --product per call: SwiftPM keeps the last).
bl_build() {
  if [[ "$SKIP_BUILD" != 1 ]]; then
    local p
    for p in "$@"; do
      log "swift build -c release --product $p"
      (cd "$BL_ROOT" && swift build -c release --product "$p") >"$BL_TMP/build-$p.log" 2>&1 \
        || { tail -n 30 "$BL_TMP/build-$p.log"; log "build of $p failed"; exit 2; }
    done
  fi
  [[ -x "$BL_BIN" ]] || { log "no server binary $BL_BIN"; exit 2; }
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http PORT PID SECONDS: until GET /healthz answers 200 (or the process exits).
wait_http() {
  local port=$1 pid=$2 secs=$3 i
  for ((i = 0; i < secs * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# Tail of a server log without lines that may hold tokens.
safe_tail() { grep -v 'blk_' "$1" 2>/dev/null | tail -n "${2:-20}" || true; }

# start_branchlink LABEL DATADIR PORT [serve options…]: `branchlink serve` pinned to SERVER_CPU;
# sets SERVER_PID. Waits up to START_TIMEOUT (default 600 s: a demo load or a big cluster's
# recovery takes a while). With BL_OWN_CLUSTER=0 (a --database-url to someone else's running
# cluster in the options) the cleanup leaves that cluster alone.
start_branchlink() {
  local label=$1 dir=$2 port=$3
  shift 3
  local logf="$BL_TMP/server-$label.log"
  if port_busy "$port"; then log "something already listens on 127.0.0.1:$port"; return 1; fi
  local -a cmd=(taskset -c "$SERVER_CPU" "$BL_BIN" serve --host 127.0.0.1 --port "$port" --data-dir "$dir"
                --rate-limit-per-minute 100000000 --log-level "$LOG_LEVEL" "$@")
  log "starting: ${cmd[*]}"
  # taskset execs the server: $! is the server itself.
  "${cmd[@]}" >"$logf" 2>&1 &
  SERVER_PID=$!
  BL_PIDS+=("$SERVER_PID"); BL_PIDNAMES+=("branchlink $label")
  [[ "${BL_OWN_CLUSTER:-1}" == 0 ]] || BL_DATADIRS+=("$dir")
  if ! wait_http "$port" "$SERVER_PID" "${START_TIMEOUT:-600}"; then
    log "server did not come up; last lines of its log:"
    safe_tail "$logf" 30
    return 1
  fi
  log "branchlink pid $SERVER_PID up on 127.0.0.1:$port ($(date +%T), $(loadavg))"
}

# psql on the embedded cluster of DATADIR (database branchlink unless -d given later).
pg_sql() { local dir=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h "$dir/pg/run" -U branchlink -d branchlink "$@"; }
pg_conninfo() { echo "host=$1/pg/run dbname=${2:-branchlink} user=branchlink"; }
postmaster_pid() { head -n 1 "$1/pg/data/postmaster.pid" 2>/dev/null || true; }

# pin_pg DATADIR CPUS: the postmaster and its current children (backends, auxiliary processes);
# backends forked later inherit the postmaster's affinity.
pin_pg() {
  local dir=$1 cpus=$2 pg p
  [[ -n "$cpus" ]] || return 0
  pg=$(postmaster_pid "$dir")
  [[ -n "$pg" ]] || return 0
  for p in "$pg" $(ps -o pid= --ppid "$pg" 2>/dev/null); do taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || true; done
  log "PostgreSQL $pg and its processes pinned to CPU $cpus"
}

# CPU time in clock ticks (user + system) of processes; of a postmaster and its children.
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(proc_ticks "$p"))); done; echo "$t"; }
pg_ticks() { local pg; pg=$(postmaster_pid "$1"); [[ -n "$pg" ]] || { echo 0; return; }; sum_ticks "$pg" $(ps -o pid= --ppid "$pg" 2>/dev/null); }
cpu_pct() { awk -v t="$1" -v hz="$CLK_TCK" -v ns="$2" 'BEGIN { printf "%.0f%%", 100 * t / hz / (ns / 1e9) }'; }

# A demo.json field: demo_json DATADIR tokens admin
demo_json() {
  python3 - "$1/demo.json" "${@:2}" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)
PY
}

# Is a `branchlink` process (a `branchlink demo` adding data, a server) working on DATADIR, or its
# PostgreSQL running? A process counts when its arguments name the directory, or when it runs in
# the directory's parent without --data-dir/--database-url (the default ./.branchlink). Prints what
# it found; returns 0 when something is busy. Our own processes (BL_PIDS) are not counted.
data_dir_busy() {
  local dir=$1 found=1 pg pid args cwd mine
  dir=$(cd "$dir" 2>/dev/null && pwd -P || echo "$dir")
  while read -r pid; do
    [[ -n "$pid" && "$pid" != "$$" ]] || continue
    mine=0
    for p in "${BL_PIDS[@]}"; do [[ "$p" == "$pid" ]] && mine=1; done
    ((mine)) && continue
    args=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)
    [[ "$args" == *branchlink* ]] || continue
    [[ "$args" == *" serve "* || "$args" == *" demo"* || "$args" == *" token "* || "$args" == *" import "* ]] || continue
    cwd=$({ readlink "/proc/$pid/cwd"; } 2>/dev/null || true)
    if [[ "$args" == *"$dir"* ]] || { [[ "$args" != *--data-dir* && "$args" != *--database-url* && "$cwd/.branchlink" == "$dir" ]]; }; then
      log "  busy: pid $pid: $(cut -c1-160 <<<"$args")"
      found=0
    fi
  done < <(pgrep -f branchlink 2>/dev/null || true)
  pg=$(postmaster_pid "$dir")
  if [[ -n "$pg" ]] && kill -0 "$pg" 2>/dev/null; then
    log "  busy: PostgreSQL $pg is running in $dir/pg/data"
    found=0
  fi
  return $found
}

# wait_data_dir DATADIR MINUTES: polls every minute while data_dir_busy, at most MINUTES.
# Sets WAIT_NOTE (empty when the directory was idle at the end).
wait_data_dir() {
  local dir=$1 minutes=$2 i
  WAIT_NOTE=""
  for ((i = 0; i <= minutes; i++)); do
    if ! data_dir_busy "$dir" >"$BL_TMP/busy.txt"; then
      ((i == 0)) || log "$dir idle after waiting $i min ($(date +%T))"
      return 0
    fi
    if ((i == 0)); then log "$dir is in use:"; cat "$BL_TMP/busy.txt"; fi
    ((i == minutes)) && break
    log "  waiting for it to finish ($(date +%T), $((i + 1))/$minutes min, $(loadavg))"
    sleep 60
  done
  WAIT_NOTE="still in use after waiting $minutes min: $(tr '\n' ';' <"$BL_TMP/busy.txt" | sed 's/  */ /g')"
  log "$WAIT_NOTE"
  return 1
}

# open_scale DATADIR PORT LABEL: waits for the data dir (wait_data_dir, WAIT_MINUTES), then starts
# `branchlink serve` on it: on its own embedded cluster when none runs (stopped again at exit), or
# with --database-url on the cluster someone else runs there (left running). Sets SERVER_PID,
# SCALE_CONN (conninfo of the cluster's socket), SCALE_NOTE.
open_scale() {
  local dir=$1 port=$2 label=$3
  [[ -d "$dir/pg/data" ]] || { log "no cluster in $dir/pg/data"; return 1; }
  SCALE_NOTE=""
  wait_data_dir "$dir" "${WAIT_MINUTES:-40}" || SCALE_NOTE="measured while $dir was in use by another process (${WAIT_NOTE#still in use after waiting * min: })"
  SCALE_CONN=$(pg_conninfo "$dir")
  local pg
  pg=$(postmaster_pid "$dir")
  if [[ -n "$pg" ]] && kill -0 "$pg" 2>/dev/null; then
    log "PostgreSQL $pg already runs in $dir: connecting with --database-url, leaving it running"
    BL_OWN_CLUSTER=0 start_branchlink "$label" "$dir" "$port" --database-url "$SCALE_CONN" || return 1
  else
    start_branchlink "$label" "$dir" "$port" || return 1
    pin_pg "$dir" "${PG_CPUS-}"
  fi
}

# scale_token ORG_CODE ROLE NAME: a new token (stdout) for a new account of that organization,
# through `branchlink token create` on the running cluster (its account/token lines to a file).
scale_token() {
  "$BL_BIN" token create --org "$1" --role "$2" --name "$3" --database-url "$SCALE_CONN" 2>>"$BL_TMP/token-create.log"
}

# token_works PORT TOKEN: GET /v1/me answers 200.
token_works() {
  [[ -n "$2" ]] || return 1
  [[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "http://127.0.0.1:$1/v1/me")" == 200 ]]
}
