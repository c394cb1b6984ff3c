"""Shared helpers of the robustness scenarios (Python standard library only).

Every scenario targets a server on 127.0.0.1 (any other address is refused), reads the server's
file descriptors, memory and CPU time from /proc/<pid>, is bounded in time, prints its numbers and
ends with one line

    RESULT <scenario> PASS|FAIL key=value ...

and exits 0 on PASS, 1 on FAIL, 2 on a usage or setup error.

Run as a script it waits until a server answers:
    python3 common.py wait --port 18090 --pid 1234 --timeout 180
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------------------------------------
# arguments

def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1", help="server address (loopback only)")
    p.add_argument("--port", type=int, default=18090)
    p.add_argument("--pid", type=int, required=True, help="server process id (for /proc)")
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    a = p.parse_args()
    try:
        ok = ipaddress.ip_address(a.host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        p.error(f"--host must be a loopback address, got {a.host!r}")
    if not os.path.exists(f"/proc/{a.pid}"):
        p.error(f"no process {a.pid}")
    raise_nofile()
    return a


def raise_nofile() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (clients need many sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------------------------
# the server process, from /proc

def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_KIB


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the ")" field 0 is state (stat field 3): utime is stat field 14, stime 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def nofile_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return f"{parts[3]}/{parts[4]}"
    return "?"


def tcp_states(port: int) -> dict[str, int]:
    """Counts of TCP states of sockets whose local port is `port` (the server side)."""
    names = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN",
             "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK", "0B": "CLOSING"}
    out: dict[str, int] = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    lport = int(cols[1].rsplit(":", 1)[1], 16)
                    if lport == port:
                        st = names.get(cols[3], cols[3])
                        out[st] = out.get(st, 0) + 1
        except OSError:
            pass
    return out


def settle_fds(pid: int, target: int, tolerance: int, timeout: float) -> int:
    """Wait until the fd count is at most target + tolerance (or timeout); return the last count."""
    deadline = time.monotonic() + timeout
    n = fd_count(pid)
    while n > target + tolerance and time.monotonic() < deadline:
        time.sleep(0.2)
        n = fd_count(pid)
    return n


def snapshot(pid: int, port: int) -> dict:
    return {"fds": fd_count(pid), "rss_kib": rss_kib(pid), "cpu_s": cpu_seconds(pid),
            "threads": threads(pid), "tcp": tcp_states(port)}


# ---------------------------------------------------------------------------------------------
# a tiny HTTP/1.1 client over raw sockets

class HTTPError(Exception):
    pass


class Conn:
    """One client connection; send requests and read responses framed by Content-Length/chunked."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send_get(self, path: str = "/healthz", close: bool = False, host: str = "bench") -> None:
        req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
        if close:
            req += "Connection: close\r\n"
        self.sock.sendall((req + "\r\n").encode())

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HTTPError("connection closed by server")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, head: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
            if len(self.buf) > 1 << 20:
                raise HTTPError("header section too large")
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HTTPError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        if 100 <= status < 200:
            return self.read_response(head)
        if head or status in (204, 304):
            return status, headers, b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line() != b"":
                        pass
                    return status, headers, body
                body += self._exact(size)
                self._exact(2)
        n = int(headers.get("content-length", "0"))
        return status, headers, self._exact(n)

    def get(self, path: str = "/healthz", close: bool = False) -> tuple[int, dict[str, str], bytes]:
        self.send_get(path, close)
        return self.read_response()


def get_once(host: str, port: int, path: str = "/healthz", timeout: float = 5.0) -> int:
    """One request on a fresh connection; the status, or -1 on any failure."""
    try:
        c = Conn(host, port, timeout)
        try:
            return c.get(path, close=True)[0]
        finally:
            c.close()
    except (OSError, HTTPError, ValueError):
        return -1


def rst_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


# ---------------------------------------------------------------------------------------------
# numbers

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[i]


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}MiB"


def result(name: str, ok: bool, failures: list[str], **numbers) -> int:
    for f in failures:
        print(f"  check failed: {f}")
    kv = " ".join(f"{k}={v}" for k, v in numbers.items())
    print(f"RESULT {name} {'PASS' if ok else 'FAIL'} {kv}", flush=True)
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------

def _wait_main() -> int:
    p = argparse.ArgumentParser(description="wait until GET /healthz answers 200")
    p.add_argument("cmd", choices=["wait"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, default=0, help="give up as soon as this process is gone")
    p.add_argument("--timeout", type=float, default=180.0)
    a = p.parse_args()
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if a.pid and not alive(a.pid):
            print(f"server process {a.pid} exited before answering", file=sys.stderr)
            return 1
        if get_once(a.host, a.port, "/healthz", timeout=2.0) == 200:
            return 0
        time.sleep(0.25)
    print(f"no 200 from http://{a.host}:{a.port}/healthz within {a.timeout:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(_wait_main())
