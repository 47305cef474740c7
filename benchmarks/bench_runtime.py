"""A full snapshot with runtime evidence, over SSH, stored and analyzed.

One lab host runs: a JVM with 3 000 threads (its stdout a file), a Go service
with 10 000 goroutines (pprof on the host's 127.0.0.1 only), and 10 containers
(podman's Docker API on a unix socket). hostsnap captures limits, memory,
network, jvm (3 dumps, 5 s apart), goroutines and docker in one snapshot; the
figure that matters is capture time minus the dump spacing. Then the three
ways to get one JVM dump are timed on the same JVM: attach (our protocol
client over the forwarded socket), SIGQUIT read back from stdout, and `jstack`.

    sudo .venv/bin/python benchmarks/bench_runtime.py [--spacing 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.jvm import DumpTaker, JvmOptions, discover
from collectors.procscan import scan_processes
from tests.integration.helpers import service_for
from tests.integration.test_goroutines import _build, _ns_pid
from tests.lab.hosts import Lab
from tests.podman.service import Podman

ROOT = Path(__file__).resolve().parents[1]


def start_jvm(host, classes: Path, threads: int, out: Path) -> subprocess.Popen:
    import os
    import pwd

    log = open(out, "wb")
    pw = pwd.getpwnam("snap")
    os.chown(out, pw.pw_uid, pw.pw_gid)
    p = host.spawn(["java", "-Xss256k", "-XX:+UseSerialGC", "-cp", str(classes), "Sleepers",
                    str(threads)], user="snap", stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while b"ready" not in out.read_bytes():
        assert time.monotonic() < deadline and p.poll() is None, out.read_text()
        time.sleep(0.05)
    return p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spacing", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=3000)
    ap.add_argument("--goroutines", type=int, default=10000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hostsnap-benchrt-"))
    work.chmod(0o755)
    classes = work / "classes"
    subprocess.run(["javac", "-d", str(classes), str(ROOT / "tests/integration/jvm/Sleepers.java")],
                   check=True)
    gosvc = _build(work / "go")
    lab = Lab(work / "lab")
    pm = Podman(work / "podman")
    procs: list[subprocess.Popen] = []
    try:
        host = lab.add_host("rt-1")
        jvm = start_jvm(host, classes, args.threads, work / "jvm.out")
        procs.append(jvm)
        go = host.spawn([str(gosvc), "-waiters", str(args.goroutines - 500), "-leaks", "500",
                         "-lifetime", "20m"], stdout=subprocess.PIPE, text=True)
        procs.append(go)
        port = int(go.stdout.readline().split()[1])
        pm.start()
        pm.grant("snap")
        pm.build_image()
        for i in range(10):
            opts = ["--memory", "64m", "--pids-limit", "100"] if i % 2 else ["--pids-limit", "-1"]
            pm.run(f"svc-{i}", *opts, cmd=["sleep", "3600"])
        labels = (f'{{ pprof = ["127.0.0.1:{port}"], docker_socket = "{pm.socket}", '
                  f'jvm = ["Sleepers"] }}')

        async def snap() -> tuple[float, dict]:
            settings, store, svc = await service_for(work, [host], labels=labels)
            settings.jvm = JvmOptions(dumps=3, spacing=args.spacing)
            try:
                t0 = time.perf_counter()
                out = await svc.capture(svc.inventory.resolve([host.name])[0])
                took = time.perf_counter() - t0
                v = out.snapshot
                assert v is not None, out.error
                return took, {
                    "status": v.status,
                    "collectors": {c.name: (c.status, round(c.duration_s, 2))
                                   for c in v.collectors},
                    "rules": sorted({f.rule for f in v.finding_list}),
                    "bytes": sum(a.size for a in v.artifacts),
                    "stored": sum(a.stored_size for a in v.artifacts),
                }
            finally:
                await store.close()

        times = []
        for i in range(args.runs):
            took, info = asyncio.run(snap())
            times.append(took)
            if i == 0:
                print(f"snapshot: {info['status']}; collectors {info['collectors']}")
                print(f"findings: {', '.join(info['rules'])}")
                print(f"raw evidence {info['bytes'] / 1e6:.1f} MB, "
                      f"stored {info['stored'] / 1e6:.1f} MB (zstd)")
        med = statistics.median(times)
        spacing = args.spacing * 2
        print(f"\nfull snapshot ({args.threads} JVM threads x 3 dumps, {args.goroutines} "
              f"goroutines, 10 containers): median {med:.2f} s over {args.runs} runs; minus "
              f"{spacing:.0f} s of dump spacing: {med - spacing:.2f} s")

        async def one_dump_each() -> None:
            _, store, svc = await service_for(work, [host], labels=labels)
            h = svc.inventory.resolve([host.name])[0]
            async with svc.pool.session(h) as (s, _warm):
                table = await scan_processes(s)
                (t,) = await discover(s, table, ["Sleepers"], 1)
                taker = DumpTaker(s, JvmOptions(), table)
                for name, fn in (("attach (listener running)", lambda: taker.take(t)),
                                 ("SIGQUIT, read from stdout", lambda: taker._sigquit(t))):
                    ts = []
                    for _ in range(5):
                        t0 = time.perf_counter()
                        r = await fn()
                        ts.append(time.perf_counter() - t0)
                    size = len(r[0])
                    print(f"{name}: median {statistics.median(ts) * 1000:.0f} ms "
                          f"({size / 1e6:.1f} MB dump)")
            await store.close()

        print()
        asyncio.run(one_dump_each())
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = host.run(["jstack", str(_ns_pid(jvm.pid))], user="snap", timeout=120)
            ts.append(time.perf_counter() - t0)
        assert r.returncode == 0 and "Full thread dump" in r.stdout, r.stderr
        print(f"jstack (JDK tool on the host, as the JVM's user): median "
              f"{statistics.median(ts) * 1000:.0f} ms")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        pm.destroy()
        lab.close()


if __name__ == "__main__":
    main()
