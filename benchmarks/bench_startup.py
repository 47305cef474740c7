"""Start-up: whole `hostsnap` processes as a user runs them (bytecode cached),
and one host over SSH against one compound `ssh host 'cat FILE...'` of the same
files, with the same key and known_hosts, timed in alternating pairs.

Run as root (it starts an sshd test host in a network namespace):
    .venv/bin/python benchmarks/bench_startup.py [--runs 7] [--procs 300]

Prints medians (min-max); nothing is asserted. Only the lab's own namespace
addresses are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_capture import HOST_COLLECTORS, files_hostsnap_reads, spawn_procs

from tests.integration.helpers import write_config
from tests.lab.hosts import Lab

HOSTSNAP = str(Path(sys.executable).parent / "hostsnap")


def _env(cfg: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HOSTSNAP_") and k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "HOSTSNAP_CONFIG": str(cfg)}


def _timed(argv: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
           ) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - t0
    assert r.returncode in ok, (argv[:3], r.stderr[-1000:])
    return took


def _fmt(xs: list[float]) -> str:
    return (f"{statistics.median(xs) * 1000:.0f} ms "
            f"({min(xs) * 1000:.0f}-{max(xs) * 1000:.0f})")


def pairs(runs: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[list[float], ...]:
    """A B A B ...: the ratio per pair holds while the shared machine's speed drifts."""
    a(), b()  # warm-up: caches, bytecode, the database
    xs, ys = [], []
    for _ in range(runs):
        xs.append(a())
        ys.append(b())
    return xs, ys, [x / y for x, y in zip(xs, ys, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--procs", type=int, default=300)
    ap.add_argument("--checkout", type=Path,
                    help="time the hostsnap of another source tree (e.g. an older commit "
                         "from `git archive`) with this venv")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hostsnap-startup-"))
    lab = Lab(tmp / "lab")
    keep = None
    try:
        host = lab.add_host("start-00")
        cfg = write_config(tmp / "hostsnap.toml", [host], db_url=f"sqlite:///{tmp}/hs.db")
        env = _env(cfg)
        program = [HOSTSNAP]
        if args.checkout:
            program = [sys.executable, "-c", f"import sys; sys.argv[0] = 'hostsnap'; "
                       f"sys.path.insert(0, {str(args.checkout.resolve())!r}); "
                       "from bot.entry import main; main()"]
        python = [sys.executable, "-c", "pass"]

        def hostsnap(*argv: str) -> Callable[[], float]:
            return lambda: _timed([*program, *argv], env)

        print(f"whole processes, median (min-max) of {args.runs}, in alternating pairs")
        bare, helps, _ = pairs(args.runs, lambda: _timed(python), hostsnap("--help"))
        print(f"python -c pass:              {_fmt(bare)}")
        print(f"hostsnap --help:             {_fmt(helps)}")
        local, _, _ = pairs(args.runs, hostsnap("snapshot", "localhost"), lambda: _timed(python))
        print(f"hostsnap snapshot localhost: {_fmt(local)}")

        keep = spawn_procs(host, args.procs)  # after localhost: they run on this kernel too
        files = files_hostsnap_reads(host)
        cli = hostsnap("snapshot", "--json", "--collectors", ",".join(HOST_COLLECTORS), host.name)
        out = subprocess.run([*program, "snapshot", "--json", "--collectors",
                              ",".join(HOST_COLLECTORS), host.name],
                             env=env, capture_output=True, text=True, timeout=60)
        assert json.loads(out.stdout)["snapshots"][0]["status"] == "complete", out.stderr
        # cat exits 1 for the pids (`ls` and its ssh session) gone since the listing
        ssh = lambda: _timed(host.ssh_argv("cat", *files), ok=(0, 1))  # noqa: E731
        one, cat, ssh_ratio = pairs(args.runs, cli, ssh)
        print(f"\none host over SSH, {args.procs} processes, {'+'.join(HOST_COLLECTORS)} "
              f"({len(files)} files)")
        print(f"hostsnap snapshot HOST:      {_fmt(one)}")
        print(f"ssh HOST 'cat FILE...':      {_fmt(cat)}")
        print(f"ratio per pair:              median {statistics.median(ssh_ratio):.2f}x "
              f"({min(ssh_ratio):.2f}-{max(ssh_ratio):.2f})")
    finally:
        if keep is not None:
            keep.kill()
            keep.wait()
        lab.close()


if __name__ == "__main__":
    main()
