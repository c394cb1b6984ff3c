#!/usr/bin/env python3
"""More clients than file descriptors: the server runs under a low `ulimit -n` (bench/run.sh starts
it with `bash -c 'ulimit -n 256; exec branchlink serve ...'`) and --connections (400) clients
connect at once, each sending GET /healthz on a keep-alive connection.

Each connection ends up answered 200, answered 503, closed without an answer (refused by the
server after accept), or still waiting after --wait seconds (left in the kernel's accept queue).
While they are all held, the server's CPU is sampled: an accept loop spinning on EMFILE shows up
as ~100 %. Then everything is closed, and the server must recover.

Checks: the server stays alive and serves at least --min-served connections while over the limit,
does not spin (CPU <= --max-cpu-percent while holding), only answers 200 or 503, and after the
clients are gone its fd count returns to the baseline and new requests (--recover-requests
sequential, then --recover-concurrent at once) all answer 200.
"""

import selectors
import socket
import sys
import time

import common as c

REQ = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


class Client:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.status = None      # int once a status line arrived
        self.closed = False


def status_of(buf: bytes):
    if b"\r\n" not in buf:
        return None
    line = buf.split(b"\r\n", 1)[0].split(b" ")
    try:
        return int(line[1]) if line[0].startswith(b"HTTP/1.") else -2
    except (IndexError, ValueError):
        return -2


def concurrent_round(a, n: int, wait: float) -> dict:
    """n connections at once, one request each; counts per outcome."""
    sel = selectors.DefaultSelector()
    clients = []
    out = {"connect_failed": 0, "send_failed": 0}
    for _ in range(n):
        try:
            s = socket.create_connection((a.host, a.port), timeout=3)
        except OSError:
            out["connect_failed"] += 1
            continue
        try:
            s.sendall(REQ)
        except OSError:
            out["send_failed"] += 1
        s.setblocking(False)
        k = Client(s)
        clients.append(k)
        sel.register(s, selectors.EVENT_READ, k)
    deadline = time.monotonic() + wait
    pending = len(clients)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            k = key.data
            try:
                data = k.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                k.buf += data
                if k.status is None:
                    k.status = status_of(k.buf)
                    if k.status is not None:
                        pending -= 1
                        sel.unregister(k.sock)
            else:
                k.closed = True
                pending -= 1
                sel.unregister(k.sock)
    for k in clients:
        if k.status is not None:
            key = {200: "ok_200", 503: "busy_503"}.get(k.status, f"status_{k.status}")
        elif k.closed:
            key = "closed_without_answer"
        else:
            key = "no_answer"
        out[key] = out.get(key, 0) + 1
    out["_clients"] = clients
    out["_sel"] = sel
    return out


def close_all(r: dict) -> None:
    for k in r.get("_clients", []):
        try:
            k.sock.close()
        except OSError:
            pass
    r["_sel"].close()


def public(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_") and v}


def main() -> int:
    p = c.base_parser(__doc__)
    p.add_argument("--connections", type=int, default=400)
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for answers")
    p.add_argument("--min-served", type=int, default=50)
    p.add_argument("--max-cpu-percent", type=float, default=30.0)
    p.add_argument("--recover-requests", type=int, default=50)
    p.add_argument("--recover-concurrent", type=int, default=100)
    p.add_argument("--fd-tolerance", type=int, default=2)
    a = c.parse(p)

    limit = c.nofile_limit(a.pid)
    soft = int(limit.split("/")[0]) if limit.split("/")[0].isdigit() else 1 << 30
    print(f"server RLIMIT_NOFILE soft/hard = {limit}")
    if soft >= a.connections:
        print(f"the server's fd limit ({soft}) is not below --connections ({a.connections}): "
              "start it under a lower `ulimit -n`", file=sys.stderr)
        return 2
    if c.get_once(a.host, a.port) != 200:
        print("server does not answer GET /healthz before the test", file=sys.stderr)
        return 2
    time.sleep(0.5)
    before = c.snapshot(a.pid, a.port)
    print(f"before: fds={before['fds']} rss={c.mib(before['rss_kib'])}")

    t0 = time.monotonic()
    r = concurrent_round(a, a.connections, a.wait)
    print(f"{a.connections} concurrent connections ({time.monotonic() - t0:.1f}s): {public(r)}")
    peak = c.fd_count(a.pid) if c.alive(a.pid) else -1

    # hold everything: is the server spinning on EMFILE?
    cpu0, w0 = c.cpu_seconds(a.pid), time.monotonic()
    time.sleep(3.0)
    cpu_pct = (c.cpu_seconds(a.pid) - cpu0) / (time.monotonic() - w0) * 100 if c.alive(a.pid) else -1
    extra = c.get_once(a.host, a.port, timeout=2.0)
    print(f"holding: server fds={peak} cpu={cpu_pct:.1f}% of one core; one more fresh request -> {extra}")

    served_again = 0
    for k in r["_clients"]:
        if k.status != 200:
            continue
        try:
            k.sock.setblocking(True)
            k.sock.settimeout(3)
            k.sock.sendall(REQ)
            data = k.buf
            while data.count(b"HTTP/1.1 200") < 2:
                chunk = k.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            if data.count(b"HTTP/1.1 200") >= 2:
                served_again += 1
        except OSError:
            pass
    print(f"second request on the {r.get('ok_200', 0)} served connections: {served_again} answered 200")
    close_all(r)

    failures = []
    if not c.alive(a.pid):
        failures.append("server process died")
        return c.result("fd_limit", False, failures, nofile=limit)
    fds_after = c.settle_fds(a.pid, before["fds"], a.fd_tolerance, 15.0)
    seq_ok = sum(1 for _ in range(a.recover_requests) if c.get_once(a.host, a.port) == 200)
    r2 = concurrent_round(a, a.recover_concurrent, a.wait)
    close_all(r2)
    after = c.snapshot(a.pid, a.port)
    print(f"recovery: fds={fds_after} (baseline {before['fds']}); {seq_ok}/{a.recover_requests} sequential "
          f"requests ok; {a.recover_concurrent} concurrent: {public(r2)}; rss={c.mib(after['rss_kib'])}")

    served = r.get("ok_200", 0)
    odd = {k: v for k, v in public(r).items() if k.startswith("status_")}
    if served < a.min_served:
        failures.append(f"only {served} connections served while over the limit (< {a.min_served})")
    if odd:
        failures.append(f"unexpected answers while over the limit: {odd}")
    if cpu_pct > a.max_cpu_percent:
        failures.append(f"server CPU {cpu_pct:.0f}% while holding the connections (busy accept loop?)")
    if fds_after > before["fds"] + a.fd_tolerance:
        failures.append(f"fd count {fds_after} did not return to baseline {before['fds']}")
    if seq_ok < a.recover_requests:
        failures.append(f"{a.recover_requests - seq_ok} sequential requests failed after recovery")
    if r2.get("ok_200", 0) < a.recover_concurrent:
        failures.append(f"after recovery only {r2.get('ok_200', 0)} of {a.recover_concurrent} concurrent requests ok")
    return c.result("fd_limit", not failures, failures, nofile=limit, connections=a.connections,
                    served=served, busy_503=r.get("busy_503", 0),
                    closed_without_answer=r.get("closed_without_answer", 0),
                    no_answer=r.get("no_answer", 0), hold_cpu_percent=f"{cpu_pct:.1f}",
                    fds_before=before["fds"], fds_peak=peak, fds_after=fds_after,
                    recovered=f"{seq_ok}/{a.recover_requests}+{r2.get('ok_200', 0)}/{a.recover_concurrent}")


if __name__ == "__main__":
    sys.exit(main())
