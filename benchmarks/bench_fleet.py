"""A fleet of 100 hosts on one machine: `hostsnap snapshot @all` against
`xargs -P 100` compound `ssh`, the RSS of `hostsnap watch` per warm session,
and the reconnection of all warm sessions after they drop at once.

Run as root (it creates sshd test hosts in network namespaces):
    .venv/bin/python benchmarks/bench_fleet.py [--hosts 100] [--runs 3] [--concurrency N]

Prints figures; nothing is asserted. Only the lab's own namespace addresses
are contacted. The hosts run nothing but their sshd (a fleet's size is what
is measured here; bench_capture.py measures a busy host).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_capture import HOST_COLLECTORS, files_hostsnap_reads
from bot.watch import daemon as watchd
from tests.integration.helpers import write_config
from tests.lab.hosts import Lab, TestHost

HOSTSNAP = str(Path(sys.executable).parent / "hostsnap")


class Run:
    """One finished process: wall seconds, peak RSS MB, CPU seconds (user+sys) of
    it and of the children it waited for (os.wait4: that one child only, not
    every child this benchmark ever had), its stdout."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 check: bool = True) -> None:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=err)
            _, status, ru = os.wait4(p.pid, 0)
            self.wall = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            self.out, self.err = out.read(), err.read().decode(errors="replace")
        self.rss_mb = ru.ru_maxrss / 1024
        self.cpu = ru.ru_utime + ru.ru_stime
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited {p.returncode}: {self.err[-2000:]}")


def xargs_lines(hosts: list[TestHost], path: Path) -> Path:
    """One line per host: the ssh arguments of one compound `ssh host cat FILE...`
    of the files hostsnap reads there (bench_capture's list)."""
    lines = [" ".join(h.ssh_argv("cat", *files_hostsnap_reads(h))[1:]) for h in hosts]
    path.write_text("\n".join(lines) + "\n")
    return path


def xargs_run(lines: Path, parallel: int) -> Run:
    # cat exits 1 for a pid gone between the listing and the read: not a failure here
    return Run(["xargs", "-P", str(parallel), "-L", "1", "-a", str(lines), "ssh"], check=False)


def snapshot_all(env: dict[str, str], n: int, concurrency: int | None) -> Run:
    argv = [HOSTSNAP, "snapshot", "@all", "--json", "--collectors", ",".join(HOST_COLLECTORS)]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    r = Run(argv, env=env)
    snaps = json.loads(r.out)["snapshots"]
    bad = [s["host"] for s in snaps if s.get("status") != "complete"]
    if len(snaps) != n or bad:
        raise RuntimeError(f"{len(snaps)} snapshots, not complete: {bad}")
    return r


async def _status(sock: Path) -> dict:
    return await watchd.request({"op": "status"}, path=sock, timeout=5) or {}


def wait_warm(sock: Path, n: int, reconnects: int, timeout: float) -> tuple[float, dict]:
    """Seconds until `n` sessions are open with `reconnects` reconnects each (polled
    every 50 ms through the control socket), and the last status."""
    t0 = time.perf_counter()
    doc: dict = {}
    while time.perf_counter() - t0 < timeout:
        doc = asyncio.run(_status(sock))
        rows = doc.get("hosts", [])
        if len(rows) == n and all(r["connected"] and r["shell"] and r["reconnects"] >= reconnects
                                  for r in rows):
            return time.perf_counter() - t0, doc
        time.sleep(0.05)
    down = [r["host"] for r in doc.get("hosts", []) if not r["connected"]]
    raise RuntimeError(f"not warm after {timeout:.0f} s: {len(down)} down, e.g. {down[:5]}")


def start_watch(env: dict[str, str], targets: list[str], sock: Path) -> subprocess.Popen[bytes]:
    """`hostsnap watch TARGETS`, once its control socket answers."""
    p = subprocess.Popen([HOSTSNAP, "watch", *targets],
                         env={**env, "HOSTSNAP_WATCH_SOCKET": str(sock)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (sock.exists() and asyncio.run(_status(sock))):
        if p.poll() is not None or time.monotonic() > deadline:
            stop(p)
            raise RuntimeError("watch did not start: "
                               + (p.stderr.read().decode()[-2000:] if p.stderr else ""))
        time.sleep(0.05)
    return p


def rss_mb(p: subprocess.Popen[bytes]) -> float:
    """Median of 5 samples 0.2 s apart, after 1 s to settle."""
    time.sleep(1.0)
    samples = []
    for _ in range(5):
        samples.append(psutil.Process(p.pid).memory_info().rss / 2**20)
        time.sleep(0.2)
    return statistics.median(samples)


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="hostsnap snapshot --concurrency (default: capture.concurrency)")
    ap.add_argument("--down", type=float, default=3.0,
                    help="seconds the lab's bridge stays down in the second drop")
    ap.add_argument("--max-backoff", type=float, default=30.0,
                    help="watch.reconnect_max_backoff")
    ap.add_argument("--no-snapshot", action="store_true", help="only the watch part")
    ap.add_argument("--no-watch", action="store_true", help="only the snapshot part")
    args = ap.parse_args()
    n = args.hosts
    tmp = Path(tempfile.mkdtemp(prefix="hostsnap-fleet-"))
    lab = Lab(tmp / "lab")  # may wait for another lab's lock
    try:
        t0 = time.perf_counter()
        hosts = lab.add_hosts([f"fleet-{i:03d}" for i in range(n)])
        print(f"lab: {n} hosts up in {time.perf_counter() - t0:.1f} s "
              f"(sshd each, own netns, one bridge)")
        cfg = write_config(tmp / "fleet.toml", hosts, db_url=f"sqlite:///{tmp}/fleet.db",
                           group="all",
                           extra=f"[capture]\nmax_hosts = {n}\n[watch]\nmax_sessions = {n}\n"
                           f"reconnect_max_backoff = {args.max_backoff}\n")
        env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg),
               "HOSTSNAP_WATCH_SOCKET": str(tmp / "no-watch.sock")}
        if not args.no_snapshot:
            lines = xargs_lines(hosts, tmp / "xargs.txt")
            nfiles = len(files_hostsnap_reads(hosts[0]))
            snapshot_all(env, n, args.concurrency)  # warm-up: database created and migrated
            xargs_run(lines, n)

            xs: list[Run] = []
            hs: list[Run] = []
            for _ in range(args.runs):  # alternated: both see the same machine
                xs.append(xargs_run(lines, n))
                hs.append(snapshot_all(env, n, args.concurrency))
            x = statistics.median(r.wall for r in xs)
            h = statistics.median(r.wall for r in hs)
            conc = args.concurrency or "capture.concurrency default"
            print(f"\n## `hostsnap snapshot @all` over {n} hosts ({','.join(HOST_COLLECTORS)}; "
                  f"concurrency {conc}), {args.runs} runs, medians")
            print(f"xargs -P {n} compound `ssh host cat FILE...` ({nfiles} files a host): "
                  f"{x:.2f} s (runs {', '.join(f'{r.wall:.2f}' for r in xs)}); CPU of the ssh "
                  f"clients {statistics.median(r.cpu for r in xs):.2f} s")
            print(f"hostsnap snapshot @all, whole process to {n} stored snapshots: {h:.2f} s "
                  f"(runs {', '.join(f'{r.wall:.2f}' for r in hs)}) -> {h / x:.2f}x the xargs "
                  f"time; CPU {statistics.median(r.cpu for r in hs):.2f} s")
            print(f"hostsnap peak RSS: {max(r.rss_mb for r in hs):.0f} MB "
                  f"(runs {', '.join(f'{r.rss_mb:.0f}' for r in hs)})")
            print(f"machine load average (1 min) at the end: {os.getloadavg()[0]:.1f}")

        if not args.no_watch:
            print(f"\n## `hostsnap watch` of {n} hosts")
            sock = tmp / "wn.sock"
            t0 = time.perf_counter()
            pn = start_watch(env, ["@all"], sock)
            started = time.perf_counter() - t0
            up, _ = wait_warm(sock, n, 0, 60)
            print(f"{n} warm sessions up {up:.2f} s after the watch answers "
                  f"(its start-up: {started:.2f} s)")
            stop(pn)
            # RSS of one process with 0 sessions up (the network is down: they are
            # all trying), then with all n up: the difference is the sessions'
            lab.set_bridge_up(False)
            try:
                pn = start_watch(env, ["@all"], sock)
                rss0 = rss_mb(pn)
                if asyncio.run(_status(sock))["pool"]["connected"]:
                    raise RuntimeError("sessions up with the lab's bridge down")
            finally:
                lab.set_bridge_up(True)
            try:
                _, doc = wait_warm(sock, n, 0, 90)
                rssn = rss_mb(pn)
                print(f"RSS of `hostsnap watch @all`: {rss0:.0f} MB with 0 of {n} sessions "
                      f"up, {rssn:.0f} MB with {n} -> {(rssn - rss0) / n * 1024:.0f} KB a "
                      "warm session")
                before = doc["pool"]["attempts"]
                killed = lab.drop_connections(hosts)
                back, doc = wait_warm(sock, n, 1, 120)
                print(f"all {n} connections killed at once ({killed} sshd/shell/sftp processes): "
                      f"all warm again in {back:.2f} s; attempts at once at most "
                      f"{doc['pool']['max_connecting']} (watch.reconnect_concurrency "
                      f"{doc['pool']['concurrency']}), {doc['pool']['attempts'] - before} attempts "
                      f"for {n} hosts")
                before = doc["pool"]["attempts"]
                # killed, then the network goes: the client sees the FIN (the kill
                # is instant) and its attempts meet a dead network until it is back
                lab.drop_connections(hosts)
                time.sleep(0.05)
                lab.set_bridge_up(False)
                time.sleep(args.down)
                lab.set_bridge_up(True)
                back, doc = wait_warm(sock, n, 2, 180)
                print(f"every connection killed, then the lab's bridge down {args.down:.0f} s "
                      f"and up: all {n} warm again {back:.2f} s after it came up; "
                      f"{doc['pool']['attempts'] - before} attempts for {n} hosts, at most "
                      f"{doc['pool']['max_connecting']} at once")
                after = rss_mb(pn)
                print(f"RSS after the reconnects: {after:.0f} MB -> "
                      f"{(after - rss0) / n * 1024:.0f} KB a warm session")
            finally:
                stop(pn)
    finally:
        lab.close()


if __name__ == "__main__":
    main()
