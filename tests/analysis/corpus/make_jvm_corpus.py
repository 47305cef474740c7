"""Regenerate the JVM regression corpus (tests/analysis/corpus/jvm/) from real JVMs.

Run by hand, not by the tests: `.venv/bin/python -m tests.analysis.corpus.make_jvm_corpus`.
It compiles the workloads (tests/workloads/jvm/*.java and corpus/workloads*/) with each JDK
below that is installed, runs them, takes dumps with jstack -l, `jcmd Thread.print -l` and
SIGQUIT (the JVM's stdout, as a container log shows it), and writes the files and
manifest.json: per entry the files (in time order), the JDK, the form, and the findings the
rules must report with their key numbers. Numbers that depend on the run (thread counts of a
leak that keeps growing, the monitor's address) are measured from the dump text here, by
regexes independent of the parser. Temurin 25 is not installable in CI: the dumps are
committed, and the tests only read them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = HERE / "jvm"
JDKS = {"17": Path("/usr/lib/jvm/java-17-openjdk-amd64"),
        "25": Path("/usr/lib/jvm/temurin-25-jdk-amd64")}
JARS = ["httpclient.jar", "httpcore.jar", "commons-logging.jar", "commons-codec.jar",
        "commons-httpclient.jar"]
OPTS = ["-Xss256k", "-Xmx96m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        "-XX:-UsePerfData"]
LIFETIME = "120"  # every workload exits by itself after this many seconds


def _fifo() -> None:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))


class Jvm:
    def __init__(self, home: Path, cp: str, cls: str, work: Path, *args: str,
                 realtime: bool = False) -> None:
        self.home, self.cls = home, cls
        self.log = work / f"{cls}.out"
        self._fh = self.log.open("wb")
        # The CPU workloads run SCHED_FIFO (root; the kernel still keeps 5% of each second
        # for the rest): on a busy machine (load 9 on 2 cores when the corpus was made) a
        # spinning thread got a third of a core even at nice -20, and no dump showed it hot.
        self.proc = subprocess.Popen([str(home / "bin/java"), *OPTS, "-cp", cp, cls, LIFETIME,
                                      *args], stdout=self._fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_fifo if realtime else None)

    def ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"READY" in self.log.read_bytes():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cls} exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise TimeoutError(self.cls)

    def jcmd(self) -> bytes:
        return subprocess.run([str(self.home / "bin/jcmd"), str(self.proc.pid), "Thread.print",
                               "-l"], check=True, capture_output=True, timeout=60).stdout

    def jstack(self) -> bytes:
        return subprocess.run([str(self.home / "bin/jstack"), "-l", str(self.proc.pid)],
                              check=True, capture_output=True, timeout=60).stdout

    def json_dump(self, path: Path) -> bytes:
        subprocess.run([str(self.home / "bin/jcmd"), str(self.proc.pid), "Thread.dump_to_file",
                        "-format=json", str(path)], check=True, capture_output=True, timeout=60)
        return path.read_bytes()

    def sigquit(self) -> bytes:
        """The JVM's stdout after SIGQUIT: application lines, the dump, the heap summary."""
        before = self.log.read_bytes().count(b"JNI global refs")
        os.kill(self.proc.pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.log.read_bytes().count(b"JNI global refs") > before:
                time.sleep(0.3)
                return self.log.read_bytes()
            time.sleep(0.05)
        raise TimeoutError("no dump after SIGQUIT")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._fh.close()


def compile_all(jdk: str, home: Path, work: Path) -> str:
    jars = [f"/usr/share/java/{j}" for j in JARS]
    out = work / "classes"
    out.mkdir(parents=True)
    sources = [*(ROOT / "tests/workloads/jvm").glob("*.java"), *(HERE / "workloads").glob("*.java")]
    if int(jdk) >= 21:
        sources += (HERE / "workloads21").glob("*.java")
    cp = ":".join([str(out), *jars])
    subprocess.run([str(home / "bin/javac"), "-nowarn", "-d", str(out), "-cp", cp,
                    *map(str, sources)], check=True, capture_output=True, timeout=300)
    return cp


def count(pattern: str, data: bytes) -> int:
    return len(re.findall(pattern.encode(), data))


def pool_monitor(data: bytes) -> str:
    m = re.search(rb"waiting on <(0x[0-9a-f]+)> \(a org\.apache\.commons\.httpclient\."
                  rb"MultiThreadedHttpConnectionManager\$ConnectionPool\)", data)
    assert m, "no HC 3.1 pool wait in the dump"
    return m.group(1).decode()


def strip_deadlock_section(data: bytes) -> bytes:
    """The dump as a JVM that reports no deadlock would print it (JDK 25's virtual threads,
    a JVM whose detector missed it): the "Found one Java-level deadlock" section removed."""
    text = data.decode()
    start = text.find("\nFound one Java-level deadlock")
    assert start >= 0
    end = text.find(" deadlock", text.find("\nFound ", text.rfind("Java stack information")))
    end = text.find("\n", end)
    return (text[:start] + text[end:]).encode()


def take(jdk: str, home: Path, work: Path) -> list[dict[str, Any]]:
    cp = compile_all(jdk, home, work)
    d = OUT / f"jdk{jdk}"
    d.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []

    def save(name: str, data: bytes) -> str:
        # gzip, mtime 0: the corpus stays small and a rerun of one dump diffs as one file
        (d / f"{name}.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        return f"jdk{jdk}/{name}.gz"

    def entry(name: str, files: list[str], form: str, expect: list[dict[str, Any]],
              **extra: Any) -> None:
        entries.append({"name": f"jdk{jdk}/{name}", "jdk": jdk, "form": form, "files": files,
                        "expect": expect, **extra})

    plan = [("Http31Pool", "200"), ("Http4Pool",), ("EvictorLeak",), ("ExecutorLeak",),
            ("Deadlock",), ("LockConvoy",), ("Recursion", "8", "55"), ("Healthy",)]
    if int(jdk) >= 21:
        plan.append(("VirtualDeadlock",))
    procs = {p[0]: Jvm(home, cp, p[0], work, *p[1:]) for p in plan}
    try:
        for p in procs.values():
            p.ready()
        # Series first: their second dumps are taken while the single ones are written.
        ev0 = procs["EvictorLeak"].jstack()
        ex0 = procs["ExecutorLeak"].jcmd()
        t0 = time.monotonic()

        pw = procs["Http31Pool"]
        for form, data in (("jcmd", pw.jcmd()), ("jstack", pw.jstack())):
            f = save(f"hc31-pool.{form}.txt", data)
            entry(f"hc31-pool.{form}", [f], form, [{
                "rule": "HTTP_POOL_EXHAUSTED", "severity": "critical",
                "data": {"waiters": 198, "holders": 2, "monitor": pool_monitor(data),
                         "monitor_class": "org.apache.commons.httpclient."
                                          "MultiThreadedHttpConnectionManager$ConnectionPool"},
                "title_contains": "(monitor <"}])

        data = procs["Http4Pool"].jcmd()
        f = save("hc4-pool.jcmd.txt", data)
        entry("hc4-pool.jcmd", [f], "jcmd", [{
            "rule": "HTTP_POOL_EXHAUSTED", "severity": "warning",
            "data": {"waiters": 28, "holders": 2,
                     "monitor_class": "java.util.concurrent.locks."
                                      "AbstractQueuedSynchronizer$ConditionObject"},
            "title_contains": "(condition <"}])

        dl = procs["Deadlock"]
        pairs = [["transfer-1", "transfer-2"], ["reserve-1", "reserve-2"]]
        for form, data in (("jstack", dl.jstack()), ("jcmd", dl.jcmd())):
            f = save(f"deadlock.{form}.txt", data)
            entry(f"deadlock.{form}", [f], form, [
                {"rule": "JVM_DEADLOCK", "severity": "critical",
                 "data": {"threads": pair, "jvm_reported": True}} for pair in pairs])
            if form == "jcmd":
                g = save("deadlock.unreported.jcmd.txt", strip_deadlock_section(data))
                entry("deadlock.unreported.jcmd", [g], "jcmd (edited: the JVM's deadlock "
                      "section removed)", [
                          {"rule": "JVM_DEADLOCK", "severity": "critical",
                           "data": {"threads": pair, "jvm_reported": False}} for pair in pairs])
        data = dl.sigquit()
        f = save("deadlock.sigquit.log", data)
        entry("deadlock.sigquit", [f], "sigquit", [
            {"rule": "JVM_DEADLOCK", "severity": "critical",
             "data": {"threads": pair, "jvm_reported": True}} for pair in pairs])

        lc = procs["LockConvoy"]
        for form, data in (("jcmd", lc.jcmd()), ("sigquit", lc.sigquit())):
            f = save(f"lock-convoy.{form}.{'log' if form == 'sigquit' else 'txt'}", data)
            entry(f"lock-convoy.{form}", [f], form, [
                {"rule": "LOCK_CONVOY", "severity": "warning",
                 "data": {"blocked": 30, "owner": "cache-refresher", "class": "java.lang.Object"}},
                {"rule": "LOCK_CONVOY", "severity": "warning",
                 "data": {"blocked": 12, "owner": "session-sweeper" if form == "jcmd" else None,
                          "class": "java.util.concurrent.locks.ReentrantLock$NonfairSync"}}])

        data = procs["Recursion"].jcmd()
        f = save("recursion.jcmd.txt", data)
        entry("recursion.jcmd", [f], "jcmd", [{
            "rule": "IDENTICAL_STACK", "severity": "warning",
            "data": {"threads": count(r'"tree-walker-\d+"', data), "variants": 8}}])

        data = procs["Healthy"].jcmd()
        entry("healthy.jcmd", [save("healthy.jcmd.txt", data)], "jcmd", [])

        if "VirtualDeadlock" in procs:
            vd = procs["VirtualDeadlock"]
            f = save("virtual-deadlock.jcmd.txt", vd.jcmd())
            # Thread.print lists no unmounted virtual thread: nothing to see, nothing to claim.
            entry("virtual-deadlock.jcmd", [f], "jcmd", [])
            g = save("virtual-deadlock.json", vd.json_dump(work / "vd.json"))
            # Thread.dump_to_file lists them, with blockedOn and monitorsOwned: the monitor
            # cycle is in the lock graph, though the JVM reports none. The ReentrantLock
            # pair is not: the JSON names a parkBlocker but not its owner.
            entry("virtual-deadlock.json", [g], "json", [
                {"rule": "JVM_DEADLOCK", "severity": "critical",
                 "data": {"threads": ["vtransfer-1", "vtransfer-2"], "jvm_reported": False}}])

        time.sleep(max(0.0, 11.0 - (time.monotonic() - t0)))
        ev1 = procs["EvictorLeak"].jstack()
        ev1j = procs["EvictorLeak"].jcmd()
        ex1 = procs["ExecutorLeak"].jcmd()

        files = [save("evictor.1.jstack.txt", ev0), save("evictor.2.jstack.txt", ev1)]
        n0, n1 = (count(r'"Connection evictor" #', x) for x in (ev0, ev1))
        growth = [{"rule": "HTTPCLIENT_EVICTOR_LEAK", "severity": "critical",
                   "data": {"threads": n1, "before": n0, "growth": n1 - n0}},
                  {"rule": "THREAD_GROWTH", "severity": "warning",
                   "data": {"delta_min": n1 - n0}, "title_contains": '"Connection evictor" +'}]
        entry("evictor.series.jstack", files, "jstack", growth, series=True)
        g = save("evictor.2.jcmd.txt", ev1j)
        n1j = count(r'"Connection evictor" #', ev1j)
        entry("evictor.series.jstack+jcmd", [files[0], g], "jstack, jcmd", [
            {"rule": "HTTPCLIENT_EVICTOR_LEAK", "severity": "critical",
             "data": {"threads": n1j, "before": n0, "growth": n1j - n0}},
            {"rule": "THREAD_GROWTH", "severity": "warning", "data": {"delta_min": n1j - n0}}],
            series=True)
        # Forms of one moment: jstack and jcmd taken back to back are one dump.
        entry("evictor.one-moment", [files[1], g], "jstack, jcmd", [
            {"rule": "HTTPCLIENT_EVICTOR_LEAK", "severity": "critical", "data": {}}],
            series=True, dumps=1)

        files = [save("executor.1.jcmd.txt", ex0), save("executor.2.jcmd.txt", ex1)]
        pools = {int(x) for x in re.findall(rb'"pool-(\d+)-thread-\d+"', ex1)}
        entry("executor.series.jcmd", files, "jcmd", [
            {"rule": "EXECUTOR_LEAK", "severity": "warning",
             "data": {"pools": len(pools), "highest": max(pools)}},
            {"rule": "THREAD_GROWTH", "severity": "warning", "data": {}}], series=True)
    finally:
        for p in procs.values():
            p.stop()

    take_cpu(home, cp, work, save, entry)
    return entries


def _share(data: bytes, name: str, before: bytes | None = None) -> float:
    """CPU share of one core of thread `name`: over its life, or between two dumps."""
    pat = rf'"{name}" [^\n]* cpu=([\d.]+)ms elapsed=([\d.]+)s'.encode()
    cpu, wall = (float(x) for x in re.search(pat, data).groups())  # type: ignore[union-attr]
    if before is not None:
        c0, w0 = (float(x) for x in re.search(pat, before).groups())  # type: ignore[union-attr]
        cpu, wall = cpu - c0, wall - w0
    return cpu / (wall * 1000)


def _bar(share: float) -> dict[str, Any]:
    """The thresholds an entry needs when this machine gave the spinner less than the
    default 80% of a core (a busy machine: the rule is the same, the bar test-sized)."""
    return {} if share >= 0.85 else {"thresholds": {"cpu_hot_fraction": round(share - 0.1, 2)}}


def take_cpu(home: Path, cp: str, work: Path, save: Any, entry: Any) -> None:
    """The CPU workloads, once the others are gone, real-time, a few attempts while the
    machine is too busy to give a spinning thread its core: a thread a few
    seconds old at ~100% of a core (one dump), and SlowBackend's spinner and stuck
    readers (two dumps 11 s apart)."""
    best: tuple[float, bytes] = (-1.0, b"")
    for _ in range(4):
        p = Jvm(home, cp, "YoungSpinner", work, realtime=True)
        try:
            p.ready()
            time.sleep(6.0)
            data = p.jcmd()
        finally:
            p.stop()
        best = max(best, (_share(data, "report-builder"), data))
        if best[0] >= 0.85:
            break
    print(f"young spinner: {best[0]:.0%} of a core", file=sys.stderr)
    entry("young-spinner.jcmd", [save("young-spinner.jcmd.txt", best[1])], "jcmd", [
        {"rule": "CPU_HOT", "severity": "warning", "data": {"subject": "report-builder"},
         "title_contains": "since the thread started"}], **_bar(best[0]))
    pair: tuple[float, bytes, bytes] = (-1.0, b"", b"")
    for _ in range(3):
        p = Jvm(home, cp, "SlowBackend", work, realtime=True)
        try:
            p.ready()
            sb0 = p.jcmd()
            time.sleep(11.0)
            sb1 = p.jcmd()
        finally:
            p.stop()
        pair = max(pair, (_share(sb1, "report-builder", sb0), sb0, sb1))
        if pair[0] >= 0.85:
            break
    print(f"slow backend: {pair[0]:.0%} of a core", file=sys.stderr)
    files = [save("slow-backend.1.jcmd.txt", pair[1]), save("slow-backend.2.jcmd.txt", pair[2])]
    entry("slow-backend.series.jcmd", files, "jcmd", [
        {"rule": "IDENTICAL_STACK", "severity": "warning", "data": {"threads": 60},
         "title_contains": "SlowBackend.call("},
        {"rule": "CPU_HOT", "severity": "warning", "data": {"subject": "report-builder"},
         "title_contains": "between the dumps"},
        {"rule": "IDENTICAL_STACK", "severity": "warning", "data": {"threads": 60},
         "title_contains": "Workload.lambda$server$0("},  # the backend's 60 sleeping handlers
        {"rule": "STUCK_THREAD", "severity": "warning", "data": {"threads_min": 60}}],
        series=True, **_bar(pair[0]))


def main() -> None:
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"jvm-corpus-{os.getpid()}"
    if sys.argv[1:] == ["cpu"]:  # retake only the CPU entries (a busy machine the first time)
        cpu_only(work)
        return
    shutil.rmtree(OUT, ignore_errors=True)
    entries: list[dict[str, Any]] = []
    for jdk, home in JDKS.items():
        if not (home / "bin/java").exists():
            print(f"JDK {jdk} not installed at {home}: skipped", file=sys.stderr)
            continue
        entries += take(jdk, home, work / jdk)
    jdks = sorted({e["jdk"] for e in entries})
    if len(jdks) > 1:  # two processes (two JVM builds): growth must not be computed across
        entries.append({
            "name": "mixed-processes", "jdk": "+".join(jdks), "form": "jstack", "series": True,
            "files": [f"jdk{jdks[0]}/evictor.1.jstack.txt.gz",
                      f"jdk{jdks[1]}/evictor.2.jstack.txt.gz"],
            # one evictor finding per process, each on its own dump: no growth between them
            "expect": [{"rule": "HTTPCLIENT_EVICTOR_LEAK", "severity": "critical",
                        "data": {}, "title_contains": "process 1 (dump "},
                       {"rule": "HTTPCLIENT_EVICTOR_LEAK", "severity": "critical",
                        "data": {}, "title_contains": "process 2 (dump "}],
            "absent": ["THREAD_GROWTH"], "warnings_contain": ["different processes"]})
    manifest = {"comment": "written by make_jvm_corpus.py; see tests/analysis/test_corpus_jvm.py",
                "entries": entries}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)


def cpu_only(work: Path) -> None:
    path = OUT / "manifest.json"
    manifest = json.loads(path.read_text())
    for jdk, home in JDKS.items():
        if not (home / "bin/java").exists():
            continue
        new: list[dict[str, Any]] = []
        d = OUT / f"jdk{jdk}"

        def save(name: str, data: bytes, d: Path = d, jdk: str = jdk) -> str:
            (d / f"{name}.gz").write_bytes(gzip.compress(data, 9, mtime=0))
            return f"jdk{jdk}/{name}.gz"

        def entry(name: str, files: list[str], form: str, expect: list[dict[str, Any]],
                  jdk: str = jdk, new: list[dict[str, Any]] = new, **extra: Any) -> None:
            new.append({"name": f"jdk{jdk}/{name}", "jdk": jdk, "form": form, "files": files,
                        "expect": expect, **extra})

        take_cpu(home, compile_all(jdk, home, work / jdk), work / jdk, save, entry)
        names = {e["name"] for e in new}
        manifest["entries"] = [e for e in manifest["entries"] if e["name"] not in names] + new
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
