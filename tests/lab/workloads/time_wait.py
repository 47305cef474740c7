"""Pile up TIME_WAIT sockets with real loopback TCP connections.

    time_wait.py --count N [--port-range LO-HI] [--timeout 60]

Run inside a test host (its own network namespace). Sets
net.ipv4.ip_local_port_range first if asked (the setting is per netns), listens
on 127.0.0.1 on a port outside that range, then makes N connections one after
the other from local ports of the range; the client closes first, so its end of
every connection sits in TIME_WAIT for 60 s. Prints "TIME_WAIT <n>" (counted in /proc/net/tcp) and exits 0,
or exits 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"


def time_wait_count() -> int:
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f, None)
                n += sum(1 for line in f if line.split()[3] == "06")
        except FileNotFoundError:
            pass
    return n


def bound_client(ports) -> socket.socket | None:
    """A socket bound to the next local port of the range that is really free.

    The kernel's own choice in connect() may recycle a loopback TIME_WAIT port
    after a second (tcp_tw_reuse=2, the default), which would make the pile-up
    smaller than asked; bind() without SO_REUSEADDR never takes a TIME_WAIT port."""
    for p in ports:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            c.bind(("127.0.0.1", p))
            return c
        except OSError:
            c.close()
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--port-range", default=None, help="LO-HI")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout

    if a.port_range:
        lo, hi = (int(x) for x in a.port_range.split("-"))
        with open(RANGE_FILE, "w") as f:
            f.write(f"{lo}\t{hi}\n")
    with open(RANGE_FILE) as f:
        lo, hi = (int(x) for x in f.read().split())
    port = next(p for p in (9000, 20000, 61000, 1025, 5000) if not lo <= p <= hi)

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    srv.settimeout(5)
    before = time_wait_count()
    ports = iter(range(lo, hi + 1))
    for i in range(a.count):
        if time.monotonic() > deadline:
            print(f"timed out after {i} of {a.count} connections", file=sys.stderr)
            return 1
        c = bound_client(ports)
        if c is None:
            print(f"connection {i + 1} of {a.count}: no free local port left in {lo}-{hi}",
                  file=sys.stderr)
            return 1
        c.settimeout(5)
        c.connect(("127.0.0.1", port))
        s, _ = srv.accept()
        c.close()  # the client closes first: its end goes to TIME_WAIT
        s.settimeout(5)
        s.recv(1)  # the client's FIN
        s.close()
    # the last FIN/ACKs are processed synchronously on loopback; allow a moment anyway
    want = before + a.count
    n = time_wait_count()
    settle = min(deadline, time.monotonic() + 2)
    while n < want and time.monotonic() < settle:
        time.sleep(0.01)
        n = time_wait_count()
    print(f"TIME_WAIT {n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
