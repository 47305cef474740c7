"""Big dumps for the pages' speed benchmark and browser tests: one JVM of
30 000 threads and one Go process of 100 000 goroutines, stored as a capture
stores them (the real analysis stage, the real Store).

Deterministic and made of real stack shapes: each dump is whole copies of
dumps from the committed corpus (tests/analysis/corpus), so every stack,
state line and lock line was written by a real JVM or Go runtime. A copy
renumbers what must stay unique (thread ids, tid/nid, goroutine ids, pool
numbers), moves its lock addresses so that each copy's holders and waiters
stay consistent among themselves, and shifts the application's line numbers
by its copy number modulo VARIANTS, so a dump has as many distinct stack
groups as a service with many call sites (not the corpus's handful).

    python -m tests.web.bigdumps OUTDIR   # writes both dumps, to look at
"""

from __future__ import annotations

import asyncio
import gzip
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.store.service import Store
from collectors.analysis.hostmodels import CgroupPids, LimitsSummary, ProcessInfo, UserThreads
from collectors.analysis.results import GoEndpoint, GoroutinesResult, JvmDump, JvmInfo, JvmResult
from collectors.analysis.stage import analyze_collector
from collectors.analysis.thresholds import Thresholds
from collectors.base import Artifact, CollectorResult, Status

CORPUS = Path(__file__).resolve().parents[1] / "analysis" / "corpus"
JVM_THREADS = 30_000
GOROUTINES = 100_000
#: distinct call-site variants per corpus stack (more would multiply the
#: findings: each leaking call site is one)
VARIANTS = 4
JVM_PID = 4242
GO_PID = 5151
GO_ENDPOINT = "127.0.0.1:6060"

# an incident's mix: the evictor leak, leaked executors, slow backends, deep
# recursion, copied until the count is reached; and once (copies would be one
# more exhausted pool or convoy each) a commons-httpclient pool and a lock convoy
_JVM_SOURCES = ("evictor.2.jcmd", "executor.2.jcmd", "slow-backend.1.jcmd", "recursion.jcmd")
_JVM_ONCE = ("hc31-pool.jcmd", "lock-convoy.jcmd")
_GO_SOURCES = ("chanleak-aged", "pool-aged", "mutex-aged", "leakgrow-3")

# threads every JVM has once, whatever the application does
_JVM_OWN = re.compile(r'"(main|Reference Handler|Finalizer|Signal Dispatcher|Service Thread|'
                      r'Monitor Deflation Thread|C[12] CompilerThread\d+|Sweeper thread|'
                      r'Notification Thread|Common-Cleaner|Attach Listener|DestroyJavaVM)"')
_ADDR = re.compile(r"<0x([0-9a-f]{16})>")
_APP_LINE = re.compile(r"\(((?!java\.base@)[\w$]+\.java):(\d+)\)")
_GO_LINE = re.compile(r"(/src/hostsnap/[\w/.-]+\.go):(\d+)")


def _jvm_text(name: str) -> str:
    return gzip.decompress((CORPUS / "jvm" / "jdk17" / f"{name}.txt.gz").read_bytes()).decode()


def _jvm_parts(text: str) -> tuple[str, list[str], list[str]]:
    """(header up to the first thread, Java threads, VM threads without '#')."""
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith('"'))
    blocks: list[list[str]] = []
    for line in lines[first:]:
        if line.startswith("JNI global refs"):
            break
        if line.startswith('"'):
            blocks.append([])
        blocks[-1].append(line)
    java = [b for b in blocks if b[0].split('"', 2)[2].startswith(" #")]
    vm = [b for b in blocks if not b[0].split('"', 2)[2].startswith(" #")]
    return "\n".join(lines[:first]), ["\n".join(b) for b in java], ["\n".join(b) for b in vm]


def _jvm_copy(block: str, copy: int, number: int) -> str:
    """Thread `block` as thread `number` of copy `copy` (0: as the corpus has it)."""
    head, _, body = block.partition("\n")
    name, after = head[1:].split('"', 1)
    after = re.sub(r" #\d+ ", f" #{number} ", after, count=1)
    after = re.sub(r"tid=0x[0-9a-f]+", f"tid=0x{_tid(number)}", after)
    after = re.sub(r"nid=0x[0-9a-f]+", f"nid=0x{0x1000 + number:x}", after)
    if copy:
        # `pool-433-thread-1` in copy 2 -> `pool-2433-thread-1`: a pool of its own
        name = re.sub(r"^pool-(\d+)-", lambda m: f"pool-{int(m[1]) + 1000 * copy}-", name)
        body = _ADDR.sub(lambda m: f"<0x{int(m[1], 16) + (copy << 32):016x}>", body)
        shift = copy // len(_JVM_SOURCES) % VARIANTS  # the same for a whole copy
        body = _APP_LINE.sub(lambda m: f"({m[1]}:{int(m[2]) + shift})", body)
    return f'"{name}"{after}\n{body}'


def _tid(number: int) -> str:
    return f"{0x7f0000000000 + number * 0x1400:016x}"


def jvm_dump(threads: int = JVM_THREADS) -> bytes:
    """A `jcmd Thread.print` of one JVM with `threads` Java threads: the JVM's
    own threads once, then the sources' application threads in turn."""
    parsed = [_jvm_parts(_jvm_text(s)) for s in _JVM_SOURCES]
    once = [_jvm_parts(_jvm_text(s))[1] for s in _JVM_ONCE]
    header, first_java, vm_threads = parsed[0]
    own = [b for b in first_java if _JVM_OWN.match(b)]
    apps = [[b for b in java if not _JVM_OWN.match(b)] for _, java, _ in parsed]
    # the once-only sources as copies 1 and 2 (their own addresses, no clash)
    picked = [(0, b) for b in own] + [(c, b) for c, java in enumerate(once, 1)
                                      for b in java if not _JVM_OWN.match(b)]
    copy = len(once) + 1
    while len(picked) < threads:  # bounded: every copy adds threads
        for b in apps[copy % len(apps)][:threads - len(picked)]:
            picked.append((copy, b))
        copy += 1
    # the SMR list as a JVM prints it: one address per thread, four a line
    addrs = [f"0x{_tid(n)}" for n in range(1, threads + 1)]
    smr = ",\n".join(", ".join(addrs[i:i + 4]) for i in range(0, len(addrs), 4))
    header = re.sub(r"_java_thread_list=(0x[0-9a-f]+), length=\d+, elements=\{\n.*?\n\}",
                    lambda m: f"_java_thread_list={m[1]}, length={threads}, elements={{\n"
                              f"{smr}\n}}", header, flags=re.S)
    body = [_jvm_copy(b, c, n) for n, (c, b) in enumerate(picked, 1)]
    return "\n".join([header, *body, *vm_threads, "JNI global refs: 52, weak refs: 0\n"]).encode()


def _go_blocks(name: str) -> list[str]:
    text = (CORPUS / "go" / f"{name}.debug2.txt").read_text()
    return [b for b in text.strip("\n").split("\n\n") if b.startswith("goroutine ")]


def go_dump(goroutines: int = GOROUTINES) -> bytes:
    """A debug=2 goroutine dump (/debug/pprof/goroutine?debug=2) of one process:
    the runtime's own goroutines (pprof writer, main, the server) once, then
    the sources' workers in turn."""
    sources = [_go_blocks(s) for s in _GO_SOURCES]
    own = [b for b in sources[0] if not _go_worker(b)]
    workers = [[b for b in blocks if _go_worker(b)] for blocks in sources]
    picked = [(0, b) for b in own]
    copy = 0
    while len(picked) < goroutines:  # bounded: every copy adds goroutines
        for b in workers[copy % len(workers)][:goroutines - len(picked)]:
            picked.append((copy, b))
        copy += 1
    out = []
    for n, (c, b) in enumerate(picked, 1):
        head, _, rest = b.partition("\n")
        head = re.sub(r"^goroutine \d+ ", f"goroutine {n} ", head)
        if shift := c // len(workers) % VARIANTS:  # the same for a whole copy
            rest = _GO_LINE.sub(lambda m: f"{m[1]}:{int(m[2]) + shift}", rest)
        out.append(f"{head}\n{rest}")
    return ("\n\n".join(out) + "\n").encode()


def _go_worker(block: str) -> bool:
    return "created by main." in block and "created by main.main\n" not in block


async def _analyzed(r: CollectorResult) -> CollectorResult:
    """What the collector runner does with a result: the analysis stage, off the loop."""
    a = await asyncio.to_thread(analyze_collector, r.collector, r.parsed, r.artifacts,
                                Thresholds())
    r.findings += a.findings
    r.warnings += a.warnings
    if a.result is not None:
        r.typed = a.result
        r.sync()
    return r


def _limits(threads: int) -> CollectorResult:
    top = [ProcessInfo(pid=GO_PID, name="quote-gw", user="svc", uid=1001, threads=412,
                       cmdline="/srv/quote-gw -listen :8443 -pprof 127.0.0.1:6060",
                       rss_kb=2_900_000, nproc_limit=63_704, cgroup="/system.slice/quote-gw"),
           ProcessInfo(pid=JVM_PID, name="java", user="svc", uid=1001, threads=threads + 27,
                       cmdline="java -Xmx4g -jar /srv/payments/payments-api-2.14.1.jar",
                       rss_kb=5_800_000, nproc_limit=63_704,
                       cgroup="/system.slice/payments-api")]
    summary = LimitsSummary(
        threads_max=126_000, pid_max=4_194_304, kernel_tasks=threads + 1_200,
        visible_threads=threads + 1_100, processes=214, load=[3.1, 2.4, 1.9], top=top,
        users=[UserThreads(user="svc", uid=1001, threads=threads + 440, processes=6,
                           nproc_limit=63_704, top_pid=JVM_PID)],
        cgroups=[CgroupPids(path="/system.slice/payments-api", version=2,
                            pids_current=threads + 27, pids_max=40_000, top_pids=[JVM_PID])],
        process_names={"java": 1, "quote-gw": 1, "sshd": 3},
        versions={"payments-api": "2.14.1"})
    return CollectorResult("limits", Status.OK, parsed=summary.model_dump(mode="json"),
                           duration_s=0.41)


async def store_big_snapshot(store: Store, host: str = "bench-01", group: str = "payments",
                             threads: int = JVM_THREADS, goroutines: int = GOROUTINES) -> str:
    """A finished snapshot of `host` with both big dumps, analyzed as at
    capture time; returns its id."""
    jvm_raw, go_raw = await asyncio.to_thread(lambda: (jvm_dump(threads), go_dump(goroutines)))
    return await store_dumps(store, host, group, jvm=[jvm_raw], go=go_raw, threads=threads)


async def store_dumps(store: Store, host: str, group: str, *, jvm: Sequence[bytes] = (),
                      go: bytes | None = None, threads: int = 0, requested_by: str = "bench",
                      trigger: str = "cli", snapshot_id: str | None = None) -> str:
    """A finished snapshot of `host` as a capture leaves it: host limits, the
    JVM's dumps (`jvm`: one per dump, in order) and one debug=2 goroutine
    dump, each analyzed by the real stage and stored through `store`.
    `snapshot_id`: a fixed id (screenshots), else a new one."""
    threads = threads or 200
    expected = ["limits", *(["jvm"] if jvm else []), *(["goroutines"] if go else [])]
    sid = await store.create_snapshot(host, group=group, trigger=trigger,
                                      requested_by=requested_by, expected=expected,
                                      snapshot_id=snapshot_id)
    results = [_limits(threads)]
    if jvm:
        info = JvmResult(jvms=[JvmInfo(
            pid=JVM_PID, user="svc", threads=threads + 27,
            cmdline="java -Xmx4g -jar /srv/payments/payments-api-2.14.1.jar",
            dumps=[JvmDump(method="jcmd", bytes=len(d), seconds=1.8) for d in jvm],
            jdk="17.0.15")])
        results.append(CollectorResult(
            "jvm", Status.OK, parsed=info.model_dump(mode="json", exclude_unset=True),
            duration_s=1.9, artifacts=[
                Artifact(f"jvm/{JVM_PID}-dump{i}.txt", d,
                         meta={"pid": JVM_PID, "method": "jcmd", "why": ""})
                for i, d in enumerate(jvm, 1)]))
    if go is not None:
        ep = GoroutinesResult(endpoints=[GoEndpoint(
            endpoint=GO_ENDPOINT, source="label", pid=GO_PID, process="quote-gw",
            format="debug=2", bytes=len(go), truncated=False, seconds=2.6)])
        results.append(CollectorResult(
            "goroutines", Status.OK, parsed=ep.model_dump(mode="json", exclude_unset=True),
            duration_s=2.7, artifacts=[Artifact(
                "goroutines/127.0.0.1-6060.debug2.txt", go,
                meta={"endpoint": GO_ENDPOINT, "pid": GO_PID, "process": "quote-gw",
                      "truncated": None})]))
    for r in results:
        await store.add_result(sid, await _analyzed(r))
    await store.finish_snapshot(sid)
    return sid


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else ".")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"jvm-{JVM_PID}-dump1.txt").write_bytes(jvm_dump())
    (out / "goroutines-debug2.txt").write_bytes(go_dump())
    print(f"wrote {out}/jvm-{JVM_PID}-dump1.txt and {out}/goroutines-debug2.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
