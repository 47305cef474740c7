"""Benchmark: parse + all rules on big JVM thread dumps and Go goroutine dumps.

    .venv/bin/python benchmarks/bench_analysis.py [--sizes 10000,30000,100000] [--runs 5]
        [--dumps DIR]
    .venv/bin/python benchmarks/bench_analysis.py --whole [--runs 5] [--dumps DIR]
        [--tdscope /tmp/peers/bin/tdscope] [--panicparse panicparse]

--whole times whole processes as a user runs them, side by side in one run: the
`hostsnap analyze` console script against tdscope (JVM) and `panicparse -aggressive`
(Go), on a small dump, a 30 000-thread jstack, 100 000 and 300 000 goroutines (see
benchmarks/README.md for installing the peers).

The big dumps are real dumps scaled up: the script starts the workloads of
tests/workloads/ (needs java/jcmd and go), takes one dump of each (or reads them from
--dumps DIR, where a first run saves them), and replicates
their threads/goroutines with new names, ids and nids until the size is reached, so the
mix of stacks is the workloads' (pool waiters, lock convoy, evictors, socket readers,
executor threads, VM threads; mutex waiters, channel leaks, WaitGroup waiters). It
prints a table; it asserts nothing (targets: 30k threads < 0.5 s, 100k goroutines
< 1.5 s, peak memory <= 5x the dump). The baseline is a plain regex-split parser written
below: what one would write first.

Times are the best of --runs runs, in CPU seconds of this process (time.process_time:
less sensitive than wall time to other processes on the machine) and in wall seconds;
the load average is printed before and after. analyze_dumps is called with the kind the
collectors pass (jstack, debug=2).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.analysis.dumps import analyze_dumps  # noqa: E402
from collectors.analysis.dumptext import prepare  # noqa: E402
from collectors.analysis.goroutines import parse_debug2  # noqa: E402
from collectors.analysis.jstack import parse_thread_dump  # noqa: E402

JVM_MIX = ["Http31Pool", "LockConvoy", "EvictorLeak", "SlowBackend", "ExecutorLeak"]
GO_MIX = [("mutex", 2000), ("leak", 1000)]
OUT = ROOT / "benchmarks" / "out"


# --- real dumps -------------------------------------------------------------------------

def capture(saved: Path | None = None) -> tuple[list[str], list[str]]:
    """One jcmd dump of each JVM workload and one debug=2 dump of each Go mode; with
    `saved`, read from there when a previous run saved them, else saved there."""
    names = [f"{c}.jcmd" for c in JVM_MIX] + [f"go-{m}.debug2" for m, _ in GO_MIX]
    if saved is not None and all((saved / n).is_file() for n in names):
        texts = [(saved / n).read_text() for n in names]
        return texts[: len(JVM_MIX)], texts[len(JVM_MIX) :]
    from tests.analysis.live import GoProcess, JavaProcess, go_binary, java_classpath

    OUT.mkdir(parents=True, exist_ok=True)
    cp, binary = java_classpath(), go_binary()
    procs: list[JavaProcess | GoProcess] = [JavaProcess(c, cp, OUT) for c in JVM_MIX]
    procs += [GoProcess(binary, m, n, OUT) for m, n in GO_MIX]
    try:
        for p in procs:
            p.wait_ready()
        jvm = [p.jcmd().decode() for p in procs if isinstance(p, JavaProcess)]
        go = [p.goroutines(2).decode() for p in procs if isinstance(p, GoProcess)]
    finally:
        for p in procs:
            p.stop()
    if saved is not None:
        saved.mkdir(parents=True, exist_ok=True)
        for n, text in zip(names, jvm + go, strict=True):
            (saved / n).write_text(text)
    return jvm, go


_HDR = re.compile(r'^"([^"]*)"( #(\d+))?(.*?nid=)(0x[0-9a-f]+|\d+)', re.S)


def scale_jvm(dumps: list[str], n: int) -> bytes:
    """Replicate the thread blocks of real dumps up to n threads; each copy gets a
    new name suffix (folds into the same pool), #id and nid."""
    blocks: list[str] = []
    for d in dumps:
        body = d[d.find('\n"') + 1 : d.find("\nJNI global")]
        blocks += ['"' + b for b in body.split('\n\n"') if b.strip()]
    head = dumps[0][: dumps[0].find('\n"') + 1]
    out = [head]
    for i in range(n):
        b = blocks[i % len(blocks)]
        out.append(_HDR.sub(lambda m, i=i: f'"{m.group(1)}-{i}"'
                            + (f" #{i + 10}" if m.group(2) else "")
                            + f"{m.group(4)}0x{i + 4096:x}", b, count=1))
        out.append("\n\n")
    out.append("JNI global refs: 12, weak refs: 0\n")
    return "".join(out).encode()


def scale_go(dumps: list[str], n: int) -> bytes:
    blocks = [b for d in dumps for b in d.strip("\n").split("\n\n")]
    out = []
    for i in range(n):
        b = blocks[i % len(blocks)]
        out.append(f"goroutine {i + 1} " + b[b.find("[") :])
    return ("\n\n".join(out) + "\n\n").encode()


# --- the baseline: a plain regex-split parser -----------------------------------------

_B_HEADER = re.compile(r'^"(?P<name>.*)" (?:#(?P<id>\d+) )?(?:\[\d+\] )?(?P<daemon>daemon )?'
                       r"(?:prio=\d+ )?os_prio=\d+ (?:cpu=(?P<cpu>[\d.]+)ms )?"
                       r"(?:elapsed=(?P<el>[\d.]+)s )?tid=\S+ nid=(?P<nid>\S+) (?P<status>.*)$")
_B_STATE = re.compile(r"^\s+java\.lang\.Thread\.State: (\S+)", re.M)
_B_FRAME = re.compile(r"^\tat (.*)$", re.M)
_B_LOCK = re.compile(r"^\t- (.*?) <(0x[0-9a-f]+)> \(a (.*)\)$", re.M)
_B_DIGITS = re.compile(r"\d+")
_B_GO_HDR = re.compile(r"^goroutine (\d+) \[([^,\]]+)(?:, (\d+) minutes)?.*\]:$")
_B_GO_FUNC = re.compile(r"^(\S.*?)\(.*\)$", re.M)


def baseline_jvm(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    groups: Counter[tuple[str, ...]] = Counter()
    pools: Counter[str] = Counter()
    n = 0
    for block in re.split(r'\n(?=")', text):
        m = _B_HEADER.match(block.split("\n", 1)[0])
        if not m:
            continue
        n += 1
        _B_STATE.search(block)
        _B_LOCK.findall(block)
        groups[tuple(_B_FRAME.findall(block))] += 1
        pools[_B_DIGITS.sub("N", m.group("name"))] += 1
    return n


def baseline_go(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    groups: Counter[tuple[str, tuple[str, ...]]] = Counter()
    n = 0
    for block in re.split(r"\n\n(?=goroutine )", text):
        m = _B_GO_HDR.match(block.split("\n", 1)[0])
        if not m:
            continue
        n += 1
        groups[(m.group(2), tuple(_B_GO_FUNC.findall(block)))] += 1
    return n


# --- measuring --------------------------------------------------------------------------

def best_of(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Best CPU seconds and best wall seconds over `runs` calls."""
    cpu, wall = [], []
    for _ in range(runs):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def peak_memory(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def row(kind: str, n: int, data: bytes, runs: int) -> dict[str, float]:
    fmt = "jstack" if kind == "jvm" else "debug=2"  # what the collectors pass
    analyze, analyze_wall = best_of(lambda: analyze_dumps([data], kind=fmt), runs)
    if kind == "jvm":
        parse, _ = best_of(lambda: parse_thread_dump(prepare(data)[0]), runs)
        base, _ = best_of(lambda: baseline_jvm(data), runs)
    else:
        parse, _ = best_of(lambda: parse_debug2(prepare(data)[0]), runs)
        base, _ = best_of(lambda: baseline_go(data), runs)
    peak = peak_memory(lambda: analyze_dumps([data], kind=fmt))
    return {"n": n, "mb": len(data) / 1e6, "parse": parse, "analyze": analyze,
            "analyze_wall": analyze_wall, "per_unit_us": analyze / n * 1e6, "baseline": base,
            "ratio": base / analyze, "mem_x": peak / len(data)}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- whole processes, side by side -------------------------------------------------------

@dataclass
class Proc:
    wall: float
    cpu: float
    rss_mib: float
    code: int


# Bytecode cached, as in an install from a wheel (pip compiles at install time) and
# as the peers run: a checkout under PYTHONDONTWRITEBYTECODE=1 compiles every module of
# ours on each start (+0.07 s). The cache goes outside the checkout.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = "/tmp/hostsnap-bench/pycache"


def run_once(cmd: list[str], timeout: float = 120) -> Proc:
    """One whole process, output thrown away. CPU and peak RSS come from /usr/bin/time
    (GNU time): a child forked from this big process would inherit its RSS high-water
    mark (Linux keeps ru_maxrss across fork and exec)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", out.name, *cmd],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=timeout, env=ENV)
        wall = time.perf_counter() - t0
        user, sys_, rss_kb = out.read().split()[-3:]
    return Proc(wall, float(user) + float(sys_), int(rss_kb) / 1024, p.returncode)


def side_by_side(cmds: dict[str, list[str]], runs: int) -> dict[str, list[Proc]]:
    """A warm-up of each, then the commands in turn (A B A B ...): drift hits both."""
    for cmd in cmds.values():
        run_once(cmd)
    out: dict[str, list[Proc]] = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            out[k].append(run_once(cmd))
    return out


def _mmm(xs: list[float], fmt: str) -> str:
    return "/".join(format(x, fmt) for x in (min(xs), statistics.median(xs), max(xs)))


def whole(args: argparse.Namespace) -> None:
    jvm_real, go_real = capture(args.dumps)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    inputs = {"small jstack": scale_jvm(jvm_real, 9),
              "jstack 30k threads": scale_jvm(jvm_real, 30000),
              "goroutines 100k": scale_go(go_real, 100_000),
              "goroutines 300k": scale_go(go_real, 300_000)}
    files = {}
    for name, data in inputs.items():
        files[name] = work / (name.replace(" ", "-") + ".txt")
        files[name].write_bytes(data)
    hostsnap = str(Path(sys.executable).parent / "hostsnap")
    peers = {"small jstack": ("tdscope", [args.tdscope, "summary"]),
             "jstack 30k threads": ("tdscope", [args.tdscope, "summary"]),
             "goroutines 100k": ("panicparse -aggressive", [args.panicparse, "-aggressive"]),
             "goroutines 300k": ("panicparse -aggressive", [args.panicparse, "-aggressive"])}
    print(f"whole processes, {args.runs} runs each after a warm-up, in turn; Python "
          f"{sys.version.split()[0]}; {os.cpu_count()} CPUs; load average {load()}")
    print("figures: min/median/max; ratio = hostsnap's median / the peer's median")
    print(f"{'input':20} {'MB':>6} {'command':24} {'wall s':>20} {'CPU s':>20} "
          f"{'peak RSS MiB':>18} {'exit':>5}")
    medians: dict[str, dict[str, float]] = {}
    for name, path in files.items():
        peer_name, peer = peers[name]
        cmds = {"hostsnap analyze": [hostsnap, "analyze", str(path)]}
        if shutil.which(peer[0]):
            cmds[peer_name] = [*peer, str(path)]
        res = side_by_side(cmds, args.runs)
        mb = path.stat().st_size / 1e6
        for k, ps in res.items():
            print(f"{name:20} {mb:>6.1f} {k:24} {_mmm([p.wall for p in ps], '.3f'):>20} "
                  f"{_mmm([p.cpu for p in ps], '.3f'):>20} "
                  f"{_mmm([p.rss_mib for p in ps], '.0f'):>18} "
                  f"{','.join(sorted({str(p.code) for p in ps})):>5}")
            medians[f"{name}|{k}"] = {
                "wall": statistics.median(p.wall for p in ps),
                "cpu": statistics.median(p.cpu for p in ps),
                "rss": statistics.median(p.rss_mib for p in ps)}
        if len(res) == 2:
            a, b = (medians[f"{name}|{k}"] for k in res)
            print(f"{'':20} {'':>6} {'ratio hostsnap/peer':24} {a['wall'] / b['wall']:>20.2f} "
                  f"{a['cpu'] / b['cpu']:>20.2f} {a['rss'] / b['rss']:>18.2f}")
    for fig in ("wall", "cpu"):
        t1 = medians["goroutines 100k|hostsnap analyze"][fig]
        t3 = medians["goroutines 300k|hostsnap analyze"][fig]
        small = medians["small jstack|hostsnap analyze"][fig]
        print(f"linearity, hostsnap ({fig}): 300k/100k goroutines = {t3 / t1:.2f}x; minus "
              f"the small dump's time (start-up): {(t1 - small) / 1e5 * 1e6:.1f} and "
              f"{(t3 - small) / 3e5 * 1e6:.1f} µs per goroutine")
    print(f"load average after: {load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dumps", type=Path, help="read the real dumps from / save them to DIR")
    ap.add_argument("--whole", action="store_true", help="whole processes vs the peers")
    ap.add_argument("--work", default="/tmp/hostsnap-bench", help="--whole writes inputs here")
    ap.add_argument("--tdscope", default="/tmp/peers/bin/tdscope")
    ap.add_argument("--panicparse", default="panicparse")
    args = ap.parse_args()
    if args.whole:
        whole(args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    jvm_real, go_real = capture(args.dumps)
    print(f"real dumps: {len(jvm_real)} JVM ({sum(len(d) for d in jvm_real) // 1000} kB), "
          f"{len(go_real)} Go ({sum(len(d) for d in go_real) // 1000} kB); Python "
          f"{sys.version.split()[0]}; {os.cpu_count()} CPUs; load average {load()}")
    print(f"best of {args.runs}; CPU seconds unless marked wall")
    print(f"{'dump':10} {'size':>8} {'MB':>6} {'parse s':>8} {'parse+rules s':>14} "
          f"{'wall s':>7} {'µs/unit':>8} {'regex-split s':>14} {'ratio':>6} {'peak mem':>9}")
    for kind, scale in (("jvm", scale_jvm), ("go", scale_go)):
        real = jvm_real if kind == "jvm" else go_real
        rows = []
        for n in sizes:
            data = scale(real, n)
            r = row(kind, n, data, args.runs)
            rows.append(r)
            print(f"{kind:10} {n:>8,} {r['mb']:>6.1f} {r['parse']:>8.3f} {r['analyze']:>14.3f} "
                  f"{r['analyze_wall']:>7.3f} {r['per_unit_us']:>8.1f} {r['baseline']:>14.3f} "
                  f"{r['ratio']:>5.1f}x {r['mem_x']:>8.1f}x")
        per = [r["per_unit_us"] for r in rows]
        print(f"{kind:10} linearity: µs per unit {min(per):.1f}–{max(per):.1f} "
              f"(spread {(max(per) / statistics.mean(per) - 1) * 100:.0f}% over the mean)")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
