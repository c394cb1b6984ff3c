#!/usr/bin/env bash
# Exports of a province-wide list over the national-scale data (issue 7 item 3): the members of
# one province (~160,000 of 5.5 M) as CSV and XLSX, directly (`Accept`, streamed) and through a
# background export (`POST /v1/exports` -> 202 -> poll -> download), each timed; the files are
# checked: the CSV has one line per member plus the header and a BOM, the XLSX opens with Python's
# zipfile (every CRC checked) and, when openpyxl can be installed from PyPI into $BL_TMP, is read
# with openpyxl row by row; the background file's SHA-256 equals its X-Content-SHA256.
#
#   bench/exports.sh                      # SCALE_DIR=/work/scale/.branchlink, province DEMO-P01
#
# Knobs: SCALE_DIR [/work/scale/.branchlink]  SCALE_PORT [18131]  PROVINCE_CODE [DEMO-P01]
#        OPENPYXL [1]  WAIT_MINUTES [40]  PG_CPUS [0]
# Ends with `RESULT exports PASS|FAIL members=… csv_s=… xlsx_s=… async_xlsx_s=… …`.
set -euo pipefail
LOG_LEVEL=${LOG_LEVEL:-warning}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCALE_DIR=${SCALE_DIR:-/work/scale/.branchlink}
SCALE_PORT=${SCALE_PORT:-18131}
PROVINCE_CODE=${PROVINCE_CODE:-DEMO-P01}
OPENPYXL=${OPENPYXL:-1}
PG_CPUS=${PG_CPUS-0}
XLSX_TYPE=application/vnd.openxmlformats-officedocument.spreadsheetml.sheet

bl_init exports
bl_build branchlink

section "province-wide exports over $SCALE_DIR ($(date -u +%FT%TZ), $(nproc) cores, $(loadavg))"
open_scale "$SCALE_DIR" "$SCALE_PORT" exports || exit 2
BASE="http://127.0.0.1:$SCALE_PORT"
TOKEN=$(scale_token "$PROVINCE_CODE" viewer "bench exports province viewer") || { log "token create failed"; tail -5 "$BL_TMP/token-create.log"; exit 2; }
token_works "$SCALE_PORT" "$TOKEN" || { log "the token does not work"; exit 2; }
MEMBERS=$(psql -X -tA "$SCALE_CONN" -c "SELECT count(*) FROM members m JOIN organizations o ON o.code = '$PROVINCE_CODE' WHERE m.workplace_path <@ o.path")
log "province $PROVINCE_CODE: $MEMBERS members (its viewer's GET /v1/members lists them all)"
AUTH=(-H "Authorization: Bearer $TOKEN")
FAIL=0
check() { if eval "$2"; then log "  ok: $1"; else log "  FAIL: $1"; FAIL=1; fi; }

# ---------------------------------------------------------------- direct (streamed) downloads
fetch() { # accept file -> "seconds bytes"
  curl -sS -o "$2" -w '%{time_total} %{size_download} %{http_code}\n' "${AUTH[@]}" -H "Accept: $1" "$BASE/v1/members"
}
read -r CSV_S CSV_BYTES CSV_CODE < <(fetch text/csv "$BL_TMP/members.csv")
log "GET /v1/members as CSV: ${CSV_S}s, $CSV_BYTES bytes, HTTP $CSV_CODE"
CSV_LINES=$(wc -l <"$BL_TMP/members.csv")
check "CSV has $((MEMBERS + 1)) lines (header + members): $CSV_LINES" "[[ $CSV_LINES -eq $((MEMBERS + 1)) ]]"
check "CSV starts with a BOM" "[[ \$(head -c 3 '$BL_TMP/members.csv' | od -An -tx1 | tr -d ' ') == efbbbf ]]"
read -r XLSX_S XLSX_BYTES XLSX_CODE < <(fetch "$XLSX_TYPE" "$BL_TMP/members.xlsx")
log "GET /v1/members as XLSX: ${XLSX_S}s, $XLSX_BYTES bytes, HTTP $XLSX_CODE"

# ---------------------------------------------------------------- background export
T0=$(date +%s.%N)
LOCATION=$(curl -sS -D - -o "$BL_TMP/created.json" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"path": "/v1/members", "format": "xlsx"}' "$BASE/v1/exports" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
[[ -n "$LOCATION" ]] || { log "POST /v1/exports failed: $(cat "$BL_TMP/created.json")"; exit 2; }
STATUS=queued
while [[ "$STATUS" == queued || "$STATUS" == running ]]; do
  sleep 0.5
  STATUS=$(curl -sS "${AUTH[@]}" "$BASE$LOCATION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  if awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 1800) }'; then log "export not done after 30 min"; exit 2; fi
done
ASYNC_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
log "POST /v1/exports (xlsx) -> $STATUS after ${ASYNC_S}s (polled every 0.5 s)"
read -r DL_S DL_BYTES < <(curl -sS -D "$BL_TMP/file.headers" -o "$BL_TMP/export.xlsx" -w '%{time_total} %{size_download}\n' "${AUTH[@]}" "$BASE$LOCATION/file")
log "download: ${DL_S}s, $DL_BYTES bytes"
SHA_HEADER=$(awk 'tolower($1) == "x-content-sha256:" { print $2 }' "$BL_TMP/file.headers" | tr -d '\r')
check "status done" "[[ $STATUS == done ]]"
check "file SHA-256 = X-Content-SHA256" "[[ \$(sha256sum '$BL_TMP/export.xlsx' | cut -d' ' -f1) == '$SHA_HEADER' ]]"

# ---------------------------------------------------------------- the workbooks
python3 - "$BL_TMP/members.xlsx" "$BL_TMP/export.xlsx" "$MEMBERS" <<'PY' || FAIL=1
import sys, zipfile, re
for path in sys.argv[1:3]:
    z = zipfile.ZipFile(path)
    assert z.testzip() is None, path
    rows = sum(len(re.findall(rb"<row ", z.read(n))) for n in z.namelist() if n.startswith("xl/worksheets/"))
    print("  zipfile: %s: %d entries, %d rows (CRCs ok)" % (path.rsplit("/", 1)[1], len(z.namelist()), rows))
    assert rows == int(sys.argv[3]) + 1, "rows %d != members + header" % rows
PY
if [[ "$OPENPYXL" == 1 ]]; then
  if python3 -m venv "$BL_TMP/venv" >/dev/null 2>&1 && "$BL_TMP/venv/bin/pip" install -q openpyxl >/dev/null 2>&1; then
    "$BL_TMP/venv/bin/python" - "$BL_TMP/export.xlsx" "$MEMBERS" <<'PY' || FAIL=1
import sys, time, openpyxl
t = time.time()
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
ws = wb.worksheets[0]
n = 0
for row in ws.iter_rows(values_only=True):
    if n == 0: header = row
    n += 1
print("  openpyxl: sheet %r, %d rows, header %s, read in %.1f s" % (ws.title, n, ",".join(header[:4]) + ",...", time.time() - t))
assert n == int(sys.argv[2]) + 1
PY
  else
    log "  openpyxl could not be installed: zipfile check only"
  fi
fi

RESULT=PASS; [[ $FAIL -eq 0 ]] || RESULT=FAIL
log ""
log "RESULT exports $RESULT members=$MEMBERS csv_s=$CSV_S csv_bytes=$CSV_BYTES xlsx_s=$XLSX_S xlsx_bytes=$XLSX_BYTES async_xlsx_s=$ASYNC_S download_s=$DL_S $(loadavg | tr ' ' '_')"
[[ $FAIL -eq 0 ]]
