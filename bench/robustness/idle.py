#!/usr/bin/env python3
"""1,000 idle keep-alive connections: each sends one GET /healthz, reads the answer, then idles.

They are held for --hold seconds (below the server's idle timeout, 65 s by default) while the
server's CPU time is sampled from /proc/<pid>/stat. Then every connection sends a second request
(each must still be open and answer 200) and all are closed.

Reports the server's CPU use over the idle window, its resident memory per idle connection, and its
file descriptors before, during and after. Checks: CPU <= --max-cpu-percent of one core, every
connection answered both requests, fds back to baseline after closing, memory per connection
<= --max-kib-per-conn.
"""

import sys
import time

import common as c


def main() -> int:
    p = c.base_parser(__doc__)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--hold", type=float, default=20.0)
    p.add_argument("--max-cpu-percent", type=float, default=2.0)
    p.add_argument("--max-kib-per-conn", type=float, default=128.0)
    p.add_argument("--fd-tolerance", type=int, default=2)
    a = c.parse(p)

    if c.get_once(a.host, a.port) != 200:
        print("server does not answer GET /healthz before the test", file=sys.stderr)
        return 2
    time.sleep(1.0)
    before = c.snapshot(a.pid, a.port)
    cpu_idle0 = c.cpu_seconds(a.pid)
    time.sleep(2.0)
    cpu_zero = (c.cpu_seconds(a.pid) - cpu_idle0) / 2.0 * 100
    print(f"before: fds={before['fds']} rss={c.mib(before['rss_kib'])} threads={before['threads']} "
          f"cpu with 0 connections={cpu_zero:.2f}%")

    conns: list[c.Conn] = []
    first_fail = 0
    t_open = time.monotonic()
    for _ in range(a.connections):
        try:
            k = c.Conn(a.host, a.port, timeout=5.0)
            k.send_get("/healthz")
            conns.append(k)
        except OSError:
            first_fail += 1
    for k in conns:
        try:
            if k.read_response()[0] != 200:
                first_fail += 1
        except (OSError, c.HTTPError, ValueError):
            first_fail += 1
    print(f"opened {len(conns)} connections and read their first answers in "
          f"{time.monotonic() - t_open:.1f}s (failures {first_fail})")

    time.sleep(1.0)
    held = c.snapshot(a.pid, a.port)
    per_conn_kib = (held["rss_kib"] - before["rss_kib"]) / max(len(conns), 1)
    cpu0, w0 = c.cpu_seconds(a.pid), time.monotonic()
    samples = []
    while time.monotonic() - w0 < a.hold:
        time.sleep(1.0)
        samples.append(c.cpu_seconds(a.pid))
    cpu1, w1 = c.cpu_seconds(a.pid), time.monotonic()
    cpu_pct = (cpu1 - cpu0) / (w1 - w0) * 100
    end = c.snapshot(a.pid, a.port)
    print(f"held {len(conns)} idle connections for {w1 - w0:.1f}s: server cpu {cpu1 - cpu0:.2f}s = "
          f"{cpu_pct:.2f}% of one core; fds={held['fds']} rss={c.mib(held['rss_kib'])} "
          f"(+{per_conn_kib:.1f}KiB per connection) tcp={end['tcp']}")

    second_ok = second_fail = 0
    for k in conns:
        try:
            k.send_get("/healthz")
        except OSError:
            pass
    for k in conns:
        try:
            if k.read_response()[0] == 200:
                second_ok += 1
            else:
                second_fail += 1
        except (OSError, c.HTTPError, ValueError):
            second_fail += 1
    for k in conns:
        k.close()
    print(f"second request after the idle window: ok={second_ok} failed={second_fail}")

    failures = []
    if not c.alive(a.pid):
        failures.append("server process died")
        return c.result("idle", False, failures)
    fds_after = c.settle_fds(a.pid, before["fds"], a.fd_tolerance, 10.0)
    after = c.snapshot(a.pid, a.port)
    print(f"after closing: fds={fds_after} rss={c.mib(after['rss_kib'])}")

    if len(conns) < a.connections or first_fail:
        failures.append(f"{a.connections - len(conns)} connections not opened, {first_fail} first requests failed")
    if second_fail:
        failures.append(f"{second_fail} connections did not answer after {a.hold:.0f}s idle")
    if cpu_pct > a.max_cpu_percent:
        failures.append(f"server CPU {cpu_pct:.2f}% > {a.max_cpu_percent}% while idle")
    if per_conn_kib > a.max_kib_per_conn:
        failures.append(f"{per_conn_kib:.1f}KiB per idle connection > {a.max_kib_per_conn}KiB")
    if fds_after > before["fds"] + a.fd_tolerance:
        failures.append(f"fd count {fds_after} above baseline {before['fds']} (+{a.fd_tolerance})")
    return c.result("idle", not failures, failures, connections=len(conns),
                    cpu_percent=f"{cpu_pct:.2f}", cpu_percent_no_conns=f"{cpu_zero:.2f}",
                    kib_per_conn=f"{per_conn_kib:.1f}", fds_before=before["fds"],
                    fds_held=held["fds"], fds_after=fds_after, rss_before=c.mib(before["rss_kib"]),
                    rss_held=c.mib(held["rss_kib"]))


if __name__ == "__main__":
    sys.exit(main())
