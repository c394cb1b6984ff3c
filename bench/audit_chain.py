#!/usr/bin/env python3
"""Appends N valid records to the audit chain, as COPY text on stdout, for timing /v1/audit/verify
on a long chain; also an independent implementation of the canonical form (v1) of
Sources/Branchlink/Audit/AuditRecord.swift.

    python3 bench/audit_chain.py N LAST_SEQUENCE LAST_HASH_HEX | psql ... -c "COPY audit_records (...) FROM STDIN"

LAST_SEQUENCE/LAST_HASH_HEX: the chain's current head (0 and 64 zeros for an empty chain)."""
import hashlib
import sys
import uuid
from datetime import datetime, timezone

COLUMNS = ("sequence, at, account_id, account_org_id, org_id, delegation_id, action, status, entity_type, entity_id, "
           "fields, request_id, body_sha256, prev_hash, hash")
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def pct(s):
    return "".join(chr(b) if b in SAFE else "%%%02X" % b for b in s.encode())


def canonical(r):
    fields = ",".join(pct(k) if v is None else pct(k) + "=" + pct(v)
                      for k, v in sorted(r["fields"].items(), key=lambda kv: kv[0].encode()))
    return "\n".join([
        "branchlink-audit-v1", "sequence=%d" % r["sequence"], "at=%d" % r["at"],
        "account_id=" + (r["account_id"] or ""), "account_org_id=" + (r["account_org_id"] or ""),
        "org_id=" + (r["org_id"] or ""), "delegation_id=" + (r["delegation_id"] or ""),
        "action=" + pct(r["action"]), "status=%d" % r["status"], "entity_type=" + pct(r["entity_type"] or ""),
        "entity_id=" + (r["entity_id"] or ""), "fields=" + fields, "request_id=" + pct(r["request_id"] or ""),
        "body_sha256=" + r["body_sha256"], "prev_hash=" + r["prev_hash"]])


def main():
    n, seq, prev = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    account, org = str(uuid.uuid4()), str(uuid.uuid4())
    body = hashlib.sha256(b"{}").hexdigest()
    at = int(datetime.now(timezone.utc).timestamp() * 1_000_000) - n
    out = sys.stdout
    for i in range(n):
        seq += 1
        at += 1
        r = {"sequence": seq, "at": at, "account_id": account, "account_org_id": org, "org_id": org, "delegation_id": None,
             "action": "POST /v1/introductions/{id}/receive", "status": 200, "entity_type": "introduction",
             "entity_id": str(uuid.UUID(int=seq)), "fields": {"status": "received", "note": None},
             "request_id": "bench-%d" % seq, "body_sha256": body, "prev_hash": prev}
        h = hashlib.sha256(canonical(r).encode()).hexdigest()
        ts = datetime.fromtimestamp(at // 1_000_000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + ".%06d+00" % (at % 1_000_000)
        out.write("\t".join([str(seq), ts, account, org, org, "\\N", r["action"], "200", "introduction", r["entity_id"],
                             '{"note": null, "status": "received"}', r["request_id"], "\\\\x" + body, "\\\\x" + prev,
                             "\\\\x" + h]) + "\n")
        prev = h


if __name__ == "__main__":
    main()
