#!/usr/bin/env python3
"""Slowloris: --clients connections trickle a header section one byte per --interval seconds while
normal keep-alive traffic (GET /healthz back to back on --normal-conns connections) runs.

Start the server with a short header timeout (bench/run.sh uses --header-timeout-ms 3000) and pass
the same value here as --header-timeout-ms. For --duration seconds every slow client that the server
closes is replaced by a new one; then the script stops replacing them and waits for the rest.

Checks: every slow client is closed by the server between 0.8x and (1x + --slack) the header
timeout after its first byte, none is left open at the end, the normal traffic sees no error, and
its p99 latency stays under --max-p99-ms.
"""

import selectors
import socket
import sys
import threading
import time

import common as c

HEAD = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n"
TRICKLE = b"X-Slow: " + b"a" * 4000  # never finishes within any sane header timeout


class Slow:
    def __init__(self, a):
        self.sock = socket.create_connection((a.host, a.port), timeout=5)
        self.sock.setblocking(False)
        self.t0 = time.monotonic()
        self.sock.send(HEAD)
        self.pos = 0
        self.next_send = self.t0 + a.interval
        self.got = b""


def normal_traffic(a, stop: threading.Event, lat: list, errs: list, lock: threading.Lock) -> None:
    conn = None
    local_lat, local_err = [], 0
    while not stop.is_set():
        try:
            if conn is None:
                conn = c.Conn(a.host, a.port, timeout=5.0)
            t = time.perf_counter()
            status, headers, _ = conn.get("/healthz")
            local_lat.append((time.perf_counter() - t) * 1000)
            if status != 200:
                local_err += 1
            if headers.get("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, c.HTTPError, ValueError):
            local_err += 1
            if conn:
                conn.close()
            conn = None
            time.sleep(0.01)
    if conn:
        conn.close()
    with lock:
        lat.extend(local_lat)
        errs.append(local_err)


def main() -> int:
    p = c.base_parser(__doc__)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between trickled bytes")
    p.add_argument("--header-timeout-ms", type=int, default=3000)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of attack")
    p.add_argument("--slack", type=float, default=2.0, help="seconds allowed past the timeout")
    p.add_argument("--normal-conns", type=int, default=2)
    p.add_argument("--max-p99-ms", type=float, default=100.0)
    a = c.parse(p)
    timeout = a.header_timeout_ms / 1000.0

    if c.get_once(a.host, a.port) != 200:
        print("server does not answer GET /healthz before the test", file=sys.stderr)
        return 2
    before = c.snapshot(a.pid, a.port)
    print(f"before: fds={before['fds']} rss={c.mib(before['rss_kib'])}")

    # baseline latency without attack
    base_lat, base_err, lock0 = [], [], threading.Lock()
    stop0 = threading.Event()
    t0 = threading.Thread(target=normal_traffic, args=(a, stop0, base_lat, base_err, lock0))
    t0.start(); time.sleep(2.0); stop0.set(); t0.join()
    print(f"normal traffic alone: {len(base_lat)} requests in 2s, p50={c.percentile(base_lat, 50):.2f}ms "
          f"p99={c.percentile(base_lat, 99):.2f}ms errors={sum(base_err)}")

    lat, errs, lock = [], [], threading.Lock()
    stop = threading.Event()
    normals = [threading.Thread(target=normal_traffic, args=(a, stop, lat, errs, lock))
               for _ in range(a.normal_conns)]
    for t in normals:
        t.start()

    sel = selectors.DefaultSelector()
    opened = connect_errors = 0
    closed_after: list[float] = []   # seconds from first byte to the server's close
    got_408 = got_other = 0
    started = time.monotonic()
    attack_end = started + a.duration
    final_deadline = attack_end + timeout + a.slack + 1.0
    peak_fds = 0

    def open_one() -> None:
        nonlocal opened, connect_errors
        try:
            s = Slow(a)
            sel.register(s.sock, selectors.EVENT_READ, s)
            opened += 1
        except OSError:
            connect_errors += 1

    for _ in range(a.clients):
        open_one()

    while sel.get_map() and time.monotonic() < final_deadline:
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            s: Slow = key.data
            if now >= s.next_send:
                try:
                    s.sock.send(TRICKLE[s.pos:s.pos + 1])
                    s.pos = (s.pos + 1) % len(TRICKLE)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass  # reset by the server: the read side reports it
                s.next_send += a.interval
        for key, _ in sel.select(timeout=0.05):
            s = key.data
            try:
                data = s.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                s.got += data
                continue
            # closed by the server
            closed_after.append(time.monotonic() - s.t0)
            if s.got.startswith(b"HTTP/1.1 408") or s.got.startswith(b"HTTP/1.0 408"):
                got_408 += 1
            elif s.got:
                got_other += 1
            sel.unregister(s.sock)
            s.sock.close()
            if time.monotonic() < attack_end:
                open_one()
        if c.alive(a.pid):
            peak_fds = max(peak_fds, c.fd_count(a.pid))

    left_open = len(sel.get_map())
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
    stop.set()
    for t in normals:
        t.join()

    n_err = sum(errs)
    p50, p99, pmax = c.percentile(lat, 50), c.percentile(lat, 99), max(lat) if lat else float("nan")
    cmin = min(closed_after) if closed_after else float("nan")
    cmed = c.percentile(closed_after, 50)
    cmax = max(closed_after) if closed_after else float("nan")
    print(f"slow clients: opened={opened} closed_by_server={len(closed_after)} left_open={left_open} "
          f"connect_errors={connect_errors} answered_408={got_408} other_answer={got_other}")
    print(f"closed after first byte: min={cmin:.2f}s median={cmed:.2f}s max={cmax:.2f}s "
          f"(header timeout {timeout:.1f}s); server fds peak={peak_fds}")
    print(f"normal traffic under attack: {len(lat)} requests, p50={p50:.2f}ms p99={p99:.2f}ms "
          f"max={pmax:.2f}ms errors={n_err}")

    failures = []
    if not c.alive(a.pid):
        failures.append("server process died")
    if left_open:
        failures.append(f"{left_open} slow clients still open {timeout + a.slack + 1:.0f}s after the attack")
    early = [x for x in closed_after if x < 0.8 * timeout]
    late = [x for x in closed_after if x > timeout + a.slack]
    if early:
        failures.append(f"{len(early)} slow clients closed early (< {0.8 * timeout:.1f}s)")
    if late:
        failures.append(f"{len(late)} slow clients closed late (> {timeout + a.slack:.1f}s)")
    if n_err:
        failures.append(f"{n_err} errors in normal traffic")
    if not lat:
        failures.append("no normal request completed")
    elif p99 > a.max_p99_ms:
        failures.append(f"normal p99 {p99:.1f}ms > {a.max_p99_ms}ms")
    after_fds = c.settle_fds(a.pid, before["fds"], 2, 5.0) if c.alive(a.pid) else -1
    return c.result("slowloris", not failures, failures, slow_clients=opened,
                    closed_median_s=f"{cmed:.2f}", closed_max_s=f"{cmax:.2f}", answered_408=got_408,
                    normal_requests=len(lat), normal_p50_ms=f"{p50:.2f}", normal_p99_ms=f"{p99:.2f}",
                    normal_errors=n_err, fds_before=before["fds"], fds_after=after_fds)


if __name__ == "__main__":
    sys.exit(main())
