"""Schemathesis hooks of the contract test (ci/schemathesis.sh loads them via SCHEMATHESIS_HOOKS).

A check the schema cannot state, and two things a schema cannot say, done the way a real client
does them:

- CSV lists. `Accept: text/csv` answers are read with Python's csv module: a byte-order mark, a
  header line, every row as wide as the header (the contract's `CSV` schema says the rest).

- Credentials. The run is an admin of the demo province, so the stateful and fuzzing phases can
  reach its own account and token (through /v1/me and the lists) and disable or revoke them, which
  would turn the rest of the run into 401s. The token therefore comes from an auth provider: the
  demo admin token first, and whenever an authenticated request is answered 401, a fresh admin
  account and token made with `branchlink token create` (schemathesis then replays the request).
- Idempotency keys. A key must be unique per request (the same key with another body is 422 by
  design), so a well-formed `Idempotency-Key` that schemathesis generated is replaced by a fresh
  UUID just before the request is sent. Malformed keys (the negative cases) are left as they are.

Environment (set by ci/schemathesis.sh): BRANCHLINK_BIN, BRANCHLINK_DATA_DIR, BRANCHLINK_ADMIN_ORG
(the organization code new admin accounts are made in) and BRANCHLINK_ADMIN_TOKEN (the first token).
"""

import csv
import io
import os
import re
import subprocess
import sys
import uuid

import schemathesis

# What the server accepts as a key (Api/Idempotency.swift validKey): 1-255 characters, none a control.
_WELL_FORMED_KEY = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        value = headers[name]
        if name.lower() == "idempotency-key" and isinstance(value, str) and _WELL_FORMED_KEY.match(value):
            headers[name] = str(uuid.uuid4())


@schemathesis.deserializer("text/csv")
def csv_export(ctx, response):
    """A list as CSV (the contract's `CSV` schema): UTF-8 with a byte-order mark, read by Python's
    csv module into a header and rows of the header's width. Anything else fails the response."""
    text = response.content.decode("utf-8")
    if not text.startswith("\ufeff"):
        raise ValueError("CSV without a byte-order mark")
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    if not rows or not rows[0]:
        raise ValueError("CSV without a header line")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise ValueError(f"CSV line {number} has {len(row)} fields; the header has {len(rows[0])}")
    return text


@schemathesis.auth(refresh_interval=3600, retry_on=[401])
class BranchlinkAdmin:
    """The demo admin token, then a new admin account and token after each lock-out."""

    def __init__(self):
        self._first = os.environ.get("BRANCHLINK_ADMIN_TOKEN")
        self.minted = 0

    def get(self, case, ctx):
        if self._first:
            token, self._first = self._first, None
            return token
        self.minted += 1
        result = subprocess.run(
            [
                os.environ["BRANCHLINK_BIN"], "token", "create",
                "--org", os.environ["BRANCHLINK_ADMIN_ORG"], "--role", "admin",
                "--name", f"schemathesis {self.minted}",
                "--data-dir", os.environ["BRANCHLINK_DATA_DIR"],
            ],
            capture_output=True, text=True, timeout=60, check=True,
        )
        token = result.stdout.strip()
        if not token:
            raise RuntimeError("branchlink token create printed no token")
        print(f"[schemathesis hooks] the run locked its admin out; new admin account #{self.minted} made", file=sys.stderr)
        return token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
