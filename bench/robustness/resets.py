#!/usr/bin/env python3
"""1,000 clients that send part of a request and then reset the connection (SO_LINGER 0 close).

Three kinds, in turn: half a header section; a full header section announcing a body and half the
body; a full request reset before reading the response (the server writes to a reset socket: no
SIGPIPE crash allowed). Clients come in waves of --concurrency connections that are all open at once.

Checks: the server process is alive, GET /healthz answers 200 afterwards, and the server's open file
descriptors return to the baseline (within --fd-tolerance) within --settle seconds.
"""

import socket
import sys
import time

import common as c

KINDS = {
    "half-header": b"GET /healthz HTTP/1.1\r\nHost: bench\r\nUser-Agent: resets",
    "half-body": b"POST /healthz HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 64\r\n\r\n{\"half\":\"a body that never",
    "full-request": b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n",
}


def main() -> int:
    p = c.base_parser(__doc__)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--fd-tolerance", type=int, default=2)
    p.add_argument("--settle", type=float, default=10.0, help="seconds to wait for fds to return")
    p.add_argument("--max-seconds", type=float, default=120.0)
    a = c.parse(p)

    if c.get_once(a.host, a.port) != 200:
        print("server does not answer GET /healthz before the test", file=sys.stderr)
        return 2
    time.sleep(0.5)
    before = c.snapshot(a.pid, a.port)
    print(f"before: fds={before['fds']} rss={c.mib(before['rss_kib'])} threads={before['threads']}")

    kinds = list(KINDS.items())
    started = time.monotonic()
    deadline = started + a.max_seconds
    done = connect_errors = 0
    per_kind = {k: 0 for k in KINDS}
    while done < a.clients and time.monotonic() < deadline:
        wave = []
        for i in range(min(a.concurrency, a.clients - done)):
            kind, payload = kinds[(done + i) % len(kinds)]
            try:
                s = socket.create_connection((a.host, a.port), timeout=5)
                s.sendall(payload)
                wave.append(s)
                per_kind[kind] += 1
            except OSError:
                connect_errors += 1
        # let the server read what was sent (and, for full requests, start answering)
        time.sleep(0.05)
        for s in wave:
            c.rst_close(s)
        done += a.concurrency
    elapsed = time.monotonic() - started
    sent = sum(per_kind.values())
    print(f"reset {sent} connections in {elapsed:.1f}s ({', '.join(f'{k}={v}' for k, v in per_kind.items())}),"
          f" connect errors {connect_errors}")

    failures = []
    alive = c.alive(a.pid)
    if not alive:
        failures.append("server process died")
        return c.result("resets", False, failures, clients=sent)
    fds_after = c.settle_fds(a.pid, before["fds"], a.fd_tolerance, a.settle)
    status = c.get_once(a.host, a.port)
    after = c.snapshot(a.pid, a.port)
    print(f"after:  fds={fds_after} rss={c.mib(after['rss_kib'])} threads={after['threads']} "
          f"tcp={after['tcp']} healthz={status}")

    if status != 200:
        failures.append(f"GET /healthz after the resets answered {status}")
    if fds_after > before["fds"] + a.fd_tolerance:
        failures.append(f"fd count {fds_after} did not return to baseline {before['fds']} "
                        f"(+{a.fd_tolerance}) within {a.settle:.0f}s")
    if sent < a.clients:
        failures.append(f"only {sent} of {a.clients} clients ran within {a.max_seconds:.0f}s")
    if connect_errors > a.clients // 100:
        failures.append(f"{connect_errors} connect errors")
    return c.result("resets", not failures, failures, clients=sent, fds_before=before["fds"],
                    fds_after=fds_after, rss_before=c.mib(before["rss_kib"]),
                    rss_after=c.mib(after["rss_kib"]), healthz=status)


if __name__ == "__main__":
    sys.exit(main())
