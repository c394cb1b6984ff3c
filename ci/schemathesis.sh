#!/usr/bin/env bash
# Contract test: runs schemathesis (PyPI) with its default checks against a freshly built
# `branchlink serve --demo` and openapi.yaml. Called by .ci/run after the contract is validated;
# runnable alone from anywhere: `bash ci/schemathesis.sh`.
#
#   1. installs schemathesis (pinned) into .venv/ when missing
#   2. builds the branchlink executable
#   3. starts `branchlink serve --demo` on 127.0.0.1:$PORT with a throw-away data directory (its
#      own embedded PostgreSQL), waits for /readyz and <data-dir>/demo.json, reads the demo admin
#      token from it
#   4. runs `schemathesis run openapi.yaml` with its default checks, the settings of
#      ci/schemathesis.toml and the hooks of ci/schemathesis_hooks.py (credentials that survive
#      the run disabling its own account, fresh Idempotency-Keys, CSV read back), a bounded number
#      of examples per operation, and the per-token rate limit raised
#   5. stops the server by its PID and removes the data directory, on success and on failure
# Exits non-zero when schemathesis reports a failure or the server cannot be started.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 50), SCHEMATHESIS_PORT (default 18099),
# SCHEMATHESIS_SEED (default: random, printed by schemathesis so a failure can be replayed),
# SCHEMATHESIS_TIMEOUT (seconds, default 420: a run still going then is stopped and fails),
# SCHEMATHESIS_READY_TIMEOUT (seconds for the server to load the demo and answer, default 300),
# SCHEMATHESIS_KEEP (set: keep the work directory with the server log and the database).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
PORT=${SCHEMATHESIS_PORT:-18099}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50}
TIMEOUT=${SCHEMATHESIS_TIMEOUT:-420}
READY_TIMEOUT=${SCHEMATHESIS_READY_TIMEOUT:-300}

if [[ ! -x .venv/bin/python ]]; then
  rm -rf .venv
  python3 -m venv .venv
fi
installed=$(.venv/bin/schemathesis --version 2>/dev/null || true)
if [[ "$installed" != *"version $SCHEMATHESIS_VERSION" ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
.venv/bin/schemathesis --version

swift build --product branchlink
BIN="$(swift build --show-bin-path)/branchlink"

WORK=$(mktemp -d /tmp/branchlink-schemathesis.XXXXXX)
# The embedded PostgreSQL runs as an unprivileged user when this script runs as root: every
# directory above its data must be searchable.
chmod 755 "$WORK"
DATA="$WORK/data"
LOG="$WORK/server.log"
SERVER_PID=""

cleanup() {
  local status=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server $SERVER_PID did not stop in 30 s; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # A server stopped before it installed its signal handlers (e.g. while loading the demo) leaves
  # its embedded PostgreSQL running: stop that postmaster by the PID in its pid file (fast
  # shutdown, then immediate).
  local pidfile="$DATA/pg/data/postmaster.pid" pg_pid=""
  if [[ -f "$pidfile" ]]; then pg_pid=$(head -n 1 "$pidfile" 2>/dev/null || true); fi
  if [[ "$pg_pid" =~ ^[0-9]+$ ]] && kill -0 "$pg_pid" 2>/dev/null; then
    kill -INT "$pg_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pg_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pg_pid" 2>/dev/null; then kill -QUIT "$pg_pid" 2>/dev/null || true; sleep 1; fi
  fi
  if [[ $status -ne 0 && -f "$LOG" ]]; then
    # Server logs never carry bodies, tokens or personal data; the tail helps to read a failure.
    echo "---- last server log lines ----" >&2
    tail -n 40 "$LOG" >&2 || true
  fi
  if [[ -n "${SCHEMATHESIS_KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz"; then
  echo "port $PORT is already in use; set SCHEMATHESIS_PORT" >&2
  exit 1
fi

# The per-token rate limit is raised: at the default the run would mostly test the limiter (429
# is documented and accepted, but tells nothing about the operation).
SERVE_ARGS=(serve --demo --port "$PORT" --host 127.0.0.1 --data-dir "$DATA" --rate-limit-per-minute 1000000)

echo "starting: branchlink ${SERVE_ARGS[*]}"
"$BIN" "${SERVE_ARGS[@]}" >"$LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 $((READY_TIMEOUT * 2))); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server exited before it was ready" >&2
    exit 1
  fi
  if curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/readyz" | grep -q '^200$'; then
    # demo.json is written once the server listens and the demo tokens are issued.
    if [[ -s "$DATA/demo.json" ]]; then ready=1; break; fi
  fi
  sleep 0.5
done
if [[ $ready -ne 1 ]]; then
  echo "the server was not ready within $READY_TIMEOUT s" >&2
  exit 1
fi

TOKEN=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["tokens"]["admin"])' "$DATA/demo.json")
if [[ -z "$TOKEN" ]]; then
  echo "no admin token" >&2
  exit 1
fi
# The organization of that admin: fresh admin accounts are made there if the run locks itself out
# (ci/schemathesis_hooks.py). By id: the run may change the organization's code.
ADMIN_ORG=$(curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/me" \
  | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["organization"]["id"])')
echo "admin of organization $ADMIN_ORG"

SEED_ARGS=()
if [[ -n "${SCHEMATHESIS_SEED:-}" ]]; then SEED_ARGS=(--seed "$SCHEMATHESIS_SEED"); fi

# Run from the work directory so schemathesis's cache and reports stay out of the repository.
echo "schemathesis: $MAX_EXAMPLES examples per operation, at most ${TIMEOUT}s"
(
  cd "$WORK"
  export SCHEMATHESIS_HOOKS="$ROOT/ci/schemathesis_hooks.py"
  export BRANCHLINK_BIN="$BIN" BRANCHLINK_DATA_DIR="$DATA" BRANCHLINK_ADMIN_ORG="$ADMIN_ORG" BRANCHLINK_ADMIN_TOKEN="$TOKEN"
  timeout --signal=INT --kill-after=30 "$TIMEOUT" "$ROOT/.venv/bin/schemathesis" --no-color --config-file "$ROOT/ci/schemathesis.toml" \
    run "$ROOT/openapi.yaml" \
    --url "http://127.0.0.1:$PORT" \
    --max-examples "$MAX_EXAMPLES" \
    --request-timeout 30 \
    "${SEED_ARGS[@]}"
)

# The server must have survived the run.
if ! kill -0 "$SERVER_PID" 2>/dev/null || [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/readyz") != "200" ]]; then
  echo "the server is not ready after the run" >&2
  exit 1
fi
echo "schemathesis: passed"
