#!/usr/bin/env python3
"""Sequential request latency: one keep-alive connection, one request at a time (latency, not
throughput), to a server on 127.0.0.1 only. Python standard library only.

    BL_TOKEN=… python3 bench/seqlat.py --port 18111 --paths paths.txt --label province [--warmup-passes 1]
    BL_TOKEN=… python3 bench/seqlat.py --port 18111 --path /v1/inbox --duration 20 --label inbox

--paths: a file of request paths, one per line, each requested once per pass (after
--warmup-passes unmeasured passes); --path with --duration: the same path again and again for that
many seconds (after --warmup seconds). The bearer token comes from the environment variable named
by --token-env (never from the command line). Prints the percentiles, the status counts, how many
list items the responses held (JSON "items"), the slowest requests, and one machine-readable line
    SEQLAT label=… n=… p50_ms=… p90_ms=… p99_ms=… max_ms=… mean_ms=… non2xx=… errors=…
Exit 0 when every response was 2xx, 1 otherwise, 2 on bad arguments.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class Client:
    def __init__(self, host, port, token, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token
        self.conn = None

    def get(self, path):
        """Returns (status, seconds, body bytes or b'') ; reconnects once on a dropped connection."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=self.headers)
                r = self.conn.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, dt, body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")


def items_in(body):
    try:
        d = json.loads(body)
    except ValueError:
        return None
    if isinstance(d, dict) and isinstance(d.get("items"), list):
        return len(d["items"])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--paths", help="file of paths, one per line")
    ap.add_argument("--path", help="one path, requested for --duration seconds")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured requests before --duration")
    ap.add_argument("--warmup-passes", type=int, default=1, help="unmeasured passes over --paths first")
    ap.add_argument("--passes", type=int, default=1, help="measured passes over --paths")
    ap.add_argument("--token-env", default="BL_TOKEN")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--label", default="run")
    ap.add_argument("--slowest", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="hard bound on the whole run")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("refusing a non-loopback host: %s" % args.host, file=sys.stderr)
        return 2
    if bool(args.paths) == bool(args.path):
        print("give exactly one of --paths or --path", file=sys.stderr)
        return 2
    token = os.environ.get(args.token_env, "")
    client = Client(args.host, args.port, token, args.timeout)
    deadline = time.monotonic() + args.max_seconds

    results = []  # (seconds, status, path, items)
    errors = 0
    first_pass = []

    def one(path, keep):
        nonlocal errors
        try:
            status, dt, body = client.get(path)
        except (http.client.HTTPException, OSError) as e:
            errors += 1
            print("error on %s: %s" % (path, e.__class__.__name__), file=sys.stderr)
            return None
        rec = (dt, status, path, items_in(body))
        if keep:
            results.append(rec)
        return rec

    if args.paths:
        paths = [l.strip() for l in open(args.paths, encoding="utf-8") if l.strip() and not l.startswith("#")]
        for i in range(args.warmup_passes):
            for p in paths:
                if time.monotonic() > deadline:
                    break
                rec = one(p, False)
                if i == 0 and rec:
                    first_pass.append(rec)
        for _ in range(args.passes):
            for p in paths:
                if time.monotonic() > deadline:
                    print("stopped at --max-seconds", file=sys.stderr)
                    break
                one(p, True)
    else:
        end = time.monotonic() + args.warmup
        while time.monotonic() < end:
            one(args.path, False)
        end = min(time.monotonic() + args.duration, deadline)
        while time.monotonic() < end:
            one(args.path, True)

    def summary(recs):
        lat = sorted(r[0] * 1000 for r in recs)
        return (len(lat), percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), lat[-1] if lat else float("nan"),
                statistics.fmean(lat) if lat else float("nan"))

    if first_pass:
        n, p50, p90, p99, mx, mean = summary(first_pass)
        print("%s first (unmeasured warm-up) pass: n=%d p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms" % (args.label, n, p50, p90, p99, mx))
    if not results:
        print("SEQLAT label=%s n=0 errors=%d" % (args.label, errors))
        return 1
    n, p50, p90, p99, mx, mean = summary(results)
    statuses = {}
    for r in results:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    non2xx = sum(c for s, c in statuses.items() if not 200 <= s < 300)
    counts = [r[3] for r in results if r[3] is not None]
    print("%s: n=%d  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  mean %.1f ms  (%.1f req/s sequential)"
          % (args.label, n, p50, p90, p99, mx, mean, 1000.0 / mean if mean else 0))
    print("%s: statuses %s; items per response: %s" % (
        args.label, ", ".join("%d: %d" % kv for kv in sorted(statuses.items())),
        "min %d / median %d / max %d, %d of %d empty" % (min(counts), statistics.median(counts), max(counts),
                                                         sum(1 for c in counts if c == 0), len(counts)) if counts else "-"))
    if args.slowest:
        print("%s: slowest:" % args.label)
        for dt, status, path, items in sorted(results, reverse=True)[:args.slowest]:
            print("  %8.1f ms  %d  %s  (%s items)" % (dt * 1000, status, path, "-" if items is None else items))
    print("SEQLAT label=%s n=%d p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f mean_ms=%.1f non2xx=%d errors=%d"
          % (args.label, n, p50, p90, p99, mx, mean, non2xx, errors))
    return 0 if non2xx == 0 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
