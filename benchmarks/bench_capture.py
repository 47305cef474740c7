"""Capture speed over SSH: hostsnap vs a plain `ssh host cat ...` loop.

Run as root (it creates sshd test hosts in network namespaces):
    .venv/bin/python benchmarks/bench_capture.py [--hosts 20] [--procs 300] [--runs 5]

Prints figures; nothing is asserted. Only the lab's own namespace addresses
are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.helpers import service_for, write_config
from tests.lab.hosts import Lab

HOST_COLLECTORS = ["limits", "memory", "network"]


def spawn_procs(host, n: int) -> subprocess.Popen:
    """One process inside the host that forks n-1 sleeping children."""
    code = (
        "import os, sys, time\n"
        f"for _ in range({n - 1}):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(600); os._exit(0)\n"
        "print('ready', flush=True); time.sleep(600)\n"
    )
    p = host.spawn([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
    return p


def files_hostsnap_reads(host) -> list[str]:
    """The same files hostsnap reads, listed through one ssh call."""
    r = subprocess.run(host.ssh_argv("ls", "/proc"), capture_output=True, text=True, check=True)
    pids = [n for n in r.stdout.split() if n.isdigit()]
    files = ["/proc/sys/kernel/threads-max", "/proc/sys/kernel/pid_max", "/proc/loadavg",
             "/proc/meminfo", "/proc/vmstat", "/proc/net/tcp", "/proc/net/tcp6",
             "/proc/net/sockstat", "/proc/sys/net/ipv4/ip_local_port_range", "/etc/passwd"]
    files += [f"/proc/{p}/status" for p in pids]
    files += [f"/proc/{p}/{leaf}" for p in pids[:15] for leaf in ("cmdline", "limits", "cgroup")]
    return files


def ssh_loop(host, files: list[str]) -> float:
    t0 = time.perf_counter()
    for f in files:
        subprocess.run(host.ssh_argv("cat", f), capture_output=True)
    return time.perf_counter() - t0


def ssh_one_call(host, files: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(host.ssh_argv("cat", *files), capture_output=True)
    return time.perf_counter() - t0


def machine_busy() -> float:
    """CPU seconds spent by the whole machine so far (all cores, not idle)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Cpu:
    """Wall, our CPU and the whole machine's CPU over a block."""

    def __enter__(self) -> Cpu:
        self.m0, self.c0 = machine_busy(), own_cpu()
        return self

    def __exit__(self, *_: object) -> None:
        self.machine, self.own = machine_busy() - self.m0, own_cpu() - self.c0


async def capture_once(tmp: Path, hosts, *, warm: bool = False, **kw) -> float:
    _, store, svc = await service_for(tmp, hosts)
    try:
        if warm:  # as `hostsnap watch` keeps them: connected before the capture
            states = [svc.pool.warm(h) for h in svc.inventory.resolve([h.name for h in hosts])]
            await asyncio.wait_for(asyncio.gather(*(ws.ready.wait() for ws in states)), 30)
        t0 = time.perf_counter()
        outs = await svc.capture_many(svc.inventory.resolve([h.name for h in hosts]),
                                      collectors=HOST_COLLECTORS, **kw)
        took = time.perf_counter() - t0
        bad = [o.error for o in outs if not o.snapshot or o.snapshot.status != "complete"]
        assert not bad, bad
        return took
    finally:
        await svc.pool.close()
        await store.close()


def cli_run(tmp: Path, hosts) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of `hostsnap snapshot ...` as a process, on a
    database that exists already (the first run creates and migrates it)."""
    cfg = write_config(tmp / "cli.toml", hosts, db_url=f"sqlite:///{tmp}/cli.db")
    if not (tmp / "cli.db").exists():
        _cli_once(cfg, hosts)
    return _cli_once(cfg, hosts)


def _cli_once(cfg: Path, hosts) -> tuple[float, float]:
    env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg)}
    argv = [str(Path(sys.executable).parent / "hostsnap"), "snapshot", "--json",
            "--collectors", ",".join(HOST_COLLECTORS), *[h.name for h in hosts]]
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["snapshots"]) == len(hosts)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return took, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--procs", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hostsnap-bench-"))
    lab = Lab(tmp / "lab")
    keep = []
    try:
        t0 = time.perf_counter()
        hosts = [lab.add_host(f"bench-{i:02d}") for i in range(args.hosts)]
        print(f"lab: {args.hosts} hosts up in {time.perf_counter() - t0:.1f}s")
        for h in hosts:
            keep.append(spawn_procs(h, args.procs))
        one = hosts[:1]
        files = files_hostsnap_reads(one[0])
        print(f"each host runs {args.procs} processes; hostsnap reads {len(files)} files")

        asyncio.run(capture_once(tmp, one))  # warm-up: database created, caches filled
        with Cpu() as one_cpu:
            singles = [asyncio.run(capture_once(tmp, one)) for _ in range(args.runs)]
        s_med = statistics.median(singles)
        print("\n## one host, limits+memory+network, command to stored snapshot (in-process)")
        print(f"hostsnap: median {s_med * 1000:.0f} ms, min {min(singles) * 1000:.0f} ms, "
              f"max {max(singles) * 1000:.0f} ms over {args.runs} runs; CPU per run: "
              f"hostsnap {one_cpu.own / args.runs * 1000:.0f} ms, whole machine "
              f"{one_cpu.machine / args.runs * 1000:.0f} ms")
        cli_s, cli_rss = cli_run(tmp, one)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import bot.cli"], check=True)
        imports = time.perf_counter() - t0
        print(f"hostsnap CLI process, whole: {cli_s * 1000:.0f} ms (of which Python start-up "
              f"and imports {imports * 1000:.0f} ms), peak RSS {cli_rss:.0f} MB")
        loop = ssh_loop(one[0], files)
        onecall = ssh_one_call(one[0], files)
        print(f"plain `ssh host cat FILE` loop over the same {len(files)} files: "
              f"{loop * 1000:.0f} ms  -> hostsnap is {loop / s_med:.0f}x faster")
        print(f"one `ssh host cat FILE...` call (needs a fork on the host; dies on a "
              f"vanished pid): {onecall * 1000:.0f} ms")

        fan_runs = max(1, args.runs // 2)
        with Cpu() as fan_cpu:
            fan = [asyncio.run(capture_once(tmp, hosts)) for _ in range(fan_runs)]
        f_med = statistics.median(fan)
        cores = os.cpu_count() or 1
        print(f"\n## {args.hosts} hosts in one command (concurrency 10)")
        print(f"hostsnap: median {f_med * 1000:.0f} ms = {f_med / s_med:.1f}x one host")
        own, machine = fan_cpu.own / fan_runs, fan_cpu.machine / fan_runs
        print(f"CPU per run: hostsnap {own * 1000:.0f} ms ({own / args.hosts * 1000:.0f} ms a "
              f"host), whole machine {machine * 1000:.0f} ms, of which the {args.hosts} "
              f"hosts' sshd, sftp-server and kernel {(machine - own) * 1000:.0f} ms")
        print(f"floor on this {cores}-core machine (all its CPU / cores): "
              f"{machine / cores * 1000:.0f} ms; hostsnap alone on one core: "
              f"{own * 1000:.0f} ms")
        one_w = statistics.median(asyncio.run(capture_once(tmp, one, warm=True))
                                  for _ in range(args.runs))
        fan_w = statistics.median(asyncio.run(capture_once(tmp, hosts, warm=True))
                                  for _ in range(fan_runs))
        print(f"warm sessions (as `hostsnap watch` keeps them): one host {one_w * 1000:.0f} ms, "
              f"{args.hosts} hosts {fan_w * 1000:.0f} ms = {fan_w / one_w:.1f}x")
        t0 = time.perf_counter()
        for h in hosts:
            ssh_loop(h, files) if args.hosts <= 5 else ssh_one_call(h, files)
        seq = time.perf_counter() - t0
        what = "ssh cat loop per file" if args.hosts <= 5 else "one `ssh host cat FILE...` per host"
        print(f"sequential {what}: {seq * 1000:.0f} ms  -> ratio {seq / f_med:.1f}x")
        est = loop * args.hosts
        print(f"sequential per-file ssh loop, extrapolated from one host: {est:.1f} s "
              f"-> ratio {est / f_med:.0f}x")
        cli20_s, cli20_rss = cli_run(tmp, hosts)
        print(f"hostsnap CLI, {args.hosts} hosts: {cli20_s * 1000:.0f} ms, "
              f"peak RSS {cli20_rss:.0f} MB")
    finally:
        for p in keep:
            p.kill()
            p.wait()
        lab.close()


if __name__ == "__main__":
    main()
