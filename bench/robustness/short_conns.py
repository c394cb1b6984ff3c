#!/usr/bin/env python3
"""100,000 short connections: connect, GET /healthz with Connection: close, read the response, close.

A few client threads run them back to back. A warm-up of --warmup connections comes first, so the
baseline is taken after the server's allocator and buffers reached their working size.

Checks: every request answered 200 (at most --max-error-rate failures), the server's file descriptors
return to the baseline, no CLOSE_WAIT sockets remain on the server port, and resident memory grew by
at most --max-rss-growth-mib.
"""

import sys
import threading
import time

import common as c


def worker(a, count: int, stats: dict, lock: threading.Lock, deadline: float) -> None:
    ok = err = 0
    other: dict[int, int] = {}
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        status = c.get_once(a.host, a.port, "/healthz", timeout=5.0)
        if status == 200:
            ok += 1
        elif status < 0:
            err += 1
        else:
            other[status] = other.get(status, 0) + 1
    with lock:
        stats["ok"] += ok
        stats["err"] += err
        for k, v in other.items():
            stats["other"][k] = stats["other"].get(k, 0) + v


def run(a, total: int, deadline: float) -> tuple[dict, float]:
    stats = {"ok": 0, "err": 0, "other": {}}
    lock = threading.Lock()
    per = [total // a.threads + (1 if i < total % a.threads else 0) for i in range(a.threads)]
    ts = [threading.Thread(target=worker, args=(a, n, stats, lock, deadline)) for n in per]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return stats, time.monotonic() - t0


def main() -> int:
    p = c.base_parser(__doc__)
    p.add_argument("--connections", type=int, default=100_000)
    p.add_argument("--warmup", type=int, default=5_000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--fd-tolerance", type=int, default=2)
    p.add_argument("--max-rss-growth-mib", type=float, default=16.0)
    p.add_argument("--max-error-rate", type=float, default=0.001)
    p.add_argument("--max-seconds", type=float, default=300.0)
    a = c.parse(p)

    deadline = time.monotonic() + a.max_seconds
    if c.get_once(a.host, a.port) != 200:
        print("server does not answer GET /healthz before the test", file=sys.stderr)
        return 2
    cold = c.snapshot(a.pid, a.port)
    w, wt = run(a, a.warmup, deadline)
    time.sleep(1.0)
    before = c.snapshot(a.pid, a.port)
    print(f"cold:   fds={cold['fds']} rss={c.mib(cold['rss_kib'])}")
    print(f"warmup: {a.warmup} connections in {wt:.1f}s, ok={w['ok']} err={w['err']} other={w['other']}")
    print(f"before: fds={before['fds']} rss={c.mib(before['rss_kib'])} threads={before['threads']} "
          f"cpu={before['cpu_s']:.1f}s")

    s, el = run(a, a.connections, deadline)
    done = s["ok"] + s["err"] + sum(s["other"].values())
    rps = done / el if el > 0 else 0.0
    cpu = c.cpu_seconds(a.pid) - before["cpu_s"] if c.alive(a.pid) else float("nan")
    print(f"run:    {done} connections in {el:.1f}s = {rps:.0f} conn/s; ok={s['ok']} err={s['err']} "
          f"other={s['other']}; server cpu {cpu:.1f}s ({100 * cpu / el:.0f}% of one core)")

    failures = []
    if not c.alive(a.pid):
        failures.append("server process died")
        return c.result("short_conns", False, failures, connections=done)
    fds_after = c.settle_fds(a.pid, before["fds"], a.fd_tolerance, 10.0)
    time.sleep(0.5)
    after = c.snapshot(a.pid, a.port)
    growth_mib = (after["rss_kib"] - before["rss_kib"]) / 1024
    status = c.get_once(a.host, a.port)
    print(f"after:  fds={fds_after} rss={c.mib(after['rss_kib'])} (growth {growth_mib:+.1f}MiB) "
          f"threads={after['threads']} tcp={after['tcp']} healthz={status}")

    if done < a.connections:
        failures.append(f"only {done} of {a.connections} connections within {a.max_seconds:.0f}s")
    bad = s["err"] + sum(s["other"].values())
    if bad > a.max_error_rate * max(done, 1):
        failures.append(f"{bad} of {done} requests failed or were not 200")
    if fds_after > before["fds"] + a.fd_tolerance:
        failures.append(f"fd count {fds_after} above baseline {before['fds']} (+{a.fd_tolerance})")
    if after["tcp"].get("CLOSE_WAIT", 0) > 0:
        failures.append(f"{after['tcp']['CLOSE_WAIT']} CLOSE_WAIT sockets on the server port")
    if growth_mib > a.max_rss_growth_mib:
        failures.append(f"RSS grew by {growth_mib:.1f}MiB (> {a.max_rss_growth_mib}MiB)")
    if status != 200:
        failures.append(f"GET /healthz after the run answered {status}")
    return c.result("short_conns", not failures, failures, connections=done, conn_per_s=f"{rps:.0f}",
                    errors=bad, fds_before=before["fds"], fds_after=fds_after,
                    rss_before=c.mib(before["rss_kib"]), rss_after=c.mib(after["rss_kib"]))


if __name__ == "__main__":
    sys.exit(main())
