#!/usr/bin/env python3
"""Where a server's CPU time goes, from `perf script` output of a `perf record -g` profile.

    perf record -F 999 -g -p PID -o perf.data -- sleep 8
    perf script -i perf.data -F comm,ip,sym,dso | python3 bench/perf_breakdown.py [--requests N --cpu-seconds S]

Every sample is put in one bucket: walking its stack from the leaf towards the thread's start,
the first frame that matches a rule below names the bucket (so time spent in libpq's send() under
the token lookup counts as "SQL: token lookup", time in Foundation's JSONEncoder as "JSON encoding").
With --requests and --cpu-seconds (the server's CPU time over the profiled window and the requests
it served meanwhile) each bucket is also given in microseconds of server CPU per request.
Prints one line per bucket, biggest first, with the share of kernel time (syscalls, context
switches) inside it. Names only code, never data.
"""
import argparse
import re
import sys
from collections import Counter

# (label, pattern on the frame's symbol); first match walking from the leaf wins.
# A label with "{caller}" is completed with the first CALLERS rule found further up the stack.
RULES = [
    ("JSON encoding (Foundation JSONEncoder, snake_case keys)", r"JSONEncoder|JSONKeyedEncodingContainer|_JSONEncod|JSONWriter"),
    ("JSON encoding (JSONSerialization)", r"JSONSerialization"),
    ("token SHA-256", r"SHA256|sha256|CCryptoBoringSSL"),
    ("bearer header parsing (Foundation string ops)", r"Authentication.*bearer|6bearer"),
    ("rate limiter", r"RateLimiter"),
    ("ETag / If-None-Match", r"ETag"),
    ("SQL: {caller}", r"Postgres10Connection|PQ[a-zA-Z]+|pqsecure|libpq"),
    ("row decoding (Postgres.Row)", r"Postgres3Row"),
    ("logging (access log line)", r"Logging|LogHandler|vfprintf|__printf"),
    ("route handler, own code", r"MemberRoutes|BenchServer|main\.swift|closure #\d+ in main"),
    ("Idempotency middleware, own code", r"Idempotency"),
    ("Authentication middleware, own code", r"Authentication"),
    ("router / request dispatch", r"HTTP6Router|HTTP7Request"),
    ("worker: job queue wait and wake-up", r"workerMain"),
    ("event loop: epoll, read, parse, write", r"HTTP9EventLoop|epoll_wait|HTTPParser|HTTP10Connection"),
]
CALLERS = [
    ("member query (MemberRoutes.load)", r"MemberRoutes"),
    ("token lookup (Authentication)", r"Authentication"),
    ("idempotency", r"Idempotency"),
    ("items query (BenchServer)", r"BenchServer|main|closure"),
]
# Rules on the leaf frame alone, tried first.
LEAF_RULES = [
    ("context switches (thread hand-offs, scheduler)", r"finish_task_switch|__schedule|^schedule$"),
]
# When no frame matched (stacks end in libc or libpq, built without frame pointers):
# by what the kernel part of the stack shows, then by thread.
FALLBACK = [
    ("SQL: unix-socket send/recv to PostgreSQL (libpq frames cut)", r"unix_stream|unix_write|__send$|__libc_recv|__libc_send"),
    ("malloc/free (caller cut)", r"malloc|_int_free|^free$|cfree"),
    ("sscanf/printf (caller cut)", r"scanf|printf|_IO_|_itoa"),
]
COMPILED = [(label, re.compile(p)) for label, p in RULES]
LEAF_C = [(label, re.compile(p)) for label, p in LEAF_RULES]
FALLBACK_C = [(label, re.compile(p)) for label, p in FALLBACK]
CALLERS_C = [(label, re.compile(p)) for label, p in CALLERS]


def samples(stream):
    """Yields (comm, [(symbol, dso), …] leaf first) per sample."""
    comm, frames = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line[0].isspace():
            if comm is not None:
                yield comm, frames
            comm, frames = line.strip(), []
            continue
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            frames.append((m.group(1), m.group(2)))
    if comm is not None:
        yield comm, frames


def bucket(frames, comm=""):
    if frames:
        for label, rx in LEAF_C:
            if rx.search(frames[0][0]):
                return label
    for i, (sym, _dso) in enumerate(frames):
        for label, rx in COMPILED:
            if rx.search(sym) or (label.startswith("SQL") and "libpq" in _dso):
                if "{caller}" in label:
                    for up, _ in frames[i + 1:]:
                        for clabel, crx in CALLERS_C:
                            if crx.search(up):
                                return label.replace("{caller}", clabel)
                    return label.replace("{caller}", "other")
                return label
    for label, rx in FALLBACK_C:
        if any(rx.search(sym) for sym, _ in frames):
            return label
    if "loop" in comm:
        return "event loop: kernel TCP/epoll (stack cut)"
    leaf_dso = frames[0][1].rsplit("/", 1)[-1] if frames else "?"
    return "other (leaf in %s)" % leaf_dso


def demangle(names):
    """Simplified Swift names through swift-demangle when it is installed; the input otherwise."""
    import shutil
    import subprocess
    tool = shutil.which("swift-demangle")
    if not tool or not names:
        return names
    try:
        out = subprocess.run([tool, "--simplified"], input="\n".join(names) + "\n", capture_output=True, text=True, timeout=30).stdout
        lines = out.splitlines()
        return lines if len(lines) == len(names) else names
    except (OSError, subprocess.SubprocessError):
        return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=float, default=0, help="requests served during the profile")
    ap.add_argument("--cpu-seconds", type=float, default=0, help="server CPU seconds during the profile")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--detail", action="append", default=[],
                    help="for buckets starting with this text, also list the innermost frames of application or "
                         "Foundation code (not kernel, libc or the Swift runtime), demangled when swift-demangle is found")
    args = ap.parse_args()
    total = Counter()
    kernel = Counter()
    detail = {}
    n = 0
    for comm, frames in samples(sys.stdin):
        if not frames:
            continue
        b = bucket(frames, comm)
        for prefix in args.detail:
            if b.startswith(prefix):
                frame = next((sym for sym, dso in frames
                              if not re.search(r"kernel|libc\.so|libswiftCore|ld-linux|libm\.so", dso) and sym != "[unknown]"), "(runtime only)")
                detail.setdefault(b, Counter())[frame] += 1
        total[b] += 1
        if "kernel" in frames[0][1]:
            kernel[b] += 1
        n += 1
    if n == 0:
        print("no samples")
        return 1
    per_req = args.cpu_seconds * 1e6 / args.requests if args.requests and args.cpu_seconds else 0
    head = "%6s  %8s  %s" % ("share", "kernel", "bucket")
    if per_req:
        head = "%6s  %8s  %9s  %s" % ("share", "kernel", "us/req", "bucket")
    print(head)
    for b, c in total.most_common(args.top):
        share = 100.0 * c / n
        k = "%5.0f%%" % (100.0 * kernel[b] / c)
        if per_req:
            print("%5.1f%%  %8s  %9.1f  %s" % (share, k, per_req * c / n, b))
        else:
            print("%5.1f%%  %8s  %s" % (share, k, b))
    rest = sum(c for b, c in total.items()) - sum(c for _, c in total.most_common(args.top))
    if rest:
        print("%5.1f%%  %8s  (other buckets)" % (100.0 * rest / n, ""))
    for b, frames in sorted(detail.items(), key=lambda kv: -total[kv[0]]):
        print("inside %r (innermost application/Foundation frame, share of the bucket):" % b)
        names = demangle([f for f, _ in frames.most_common(8)])
        for (f, c), name in zip(frames.most_common(8), names):
            print("  %5.1f%%  %s" % (100.0 * c / total[b], name[:140]))
    line = "samples: %d" % n
    if per_req:
        line += "; server CPU per request: %.1f us (%.2f s over %d requests)" % (per_req, args.cpu_seconds, args.requests)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
