"""Several JVM dumps at once: which process each comes from, and in what order.

The cross-dump rules (THREAD_GROWTH, STUCK_THREAD, the evictor's and executors' growth)
compare the first dump with the last, so the order must be the order of time, not the
order the files were given in; and dumps of two processes must never be compared. Pure:
what a dump says about itself is all there is.

- Time: the JVM's uptime when it dumped, read as the largest `elapsed=` (the oldest
  threads were started with the JVM; ms precision, JDK 11+), else the header's timestamp
  ("2026-12-04 20:12:01", jstack and jcmd print it), else the order given, with a warning.
- Process: the pid (jcmd's first line), the JVM build ("Full thread dump OpenJDK ...
  (17.0.15+6...)"), the start time (timestamp minus uptime), and the threads themselves:
  two dumps of one JVM share threads (name, #id, nid) whose `elapsed=` moved by the time
  between the dumps.
- One moment: two forms of one dump (jstack and jcmd run back to back, a SIGQUIT log and
  a jcmd) are within _ONE_MOMENT_S of uptime of each other: the richer one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from collectors.analysis.findings import Finding
from collectors.analysis.jstack import ThreadDump
from collectors.analysis.threadrules import thread_findings
from collectors.analysis.thresholds import ThreadDumpThresholds

_ONE_MOMENT_S = 1.0  # jcmd attaches in a few hundred ms; a series is seconds apart
_SAME_START_S = 2.0  # timestamps have 1 s resolution, uptimes ms: two starts agree to ~1 s

_Key = tuple[str, int | None, int]


@dataclass(slots=True, eq=False)
class _Facts:
    index: int  # position in the order given
    label: str
    dump: ThreadDump
    uptime: float | None  # seconds since the JVM started, at the dump
    stamp: float | None  # the header's timestamp, epoch seconds (its own clock, any zone)
    elapsed: dict[_Key, float]  # threads with an OS id -> elapsed=

    @property
    def start(self) -> float | None:
        return self.stamp - self.uptime if self.stamp is not None and self.uptime else None

    def rich(self) -> tuple[bool, bool, int]:
        """Ownable synchronizers listed (-l), a deadlock section, then more threads."""
        d = self.dump
        return any(th.ownable for th in d.threads), bool(d.deadlocks), len(d.threads)

    def describe(self) -> str:
        d = self.dump
        parts = [f"pid {d.pid}" if d.pid else "", d.jvm.split(" (", 1)[-1].split(" ", 1)[0]
                 if d.jvm else "", f"started {_fmt(self.start)}" if self.start else ""]
        return f"{self.label} ({', '.join(p for p in parts if p) or 'no identity'})"


def _fmt(epoch: float) -> str:
    return datetime.fromtimestamp(round(epoch)).strftime("%Y-%m-%d %H:%M:%S")


def _facts(index: int, label: str, d: ThreadDump) -> _Facts:
    elapsed: dict[_Key, float] = {}
    uptime: float | None = None
    for th in d.threads:
        e = th.elapsed_s
        if e is None:
            continue
        if uptime is None or e > uptime:
            uptime = e
        if th.os_id is not None:
            elapsed[(th.name, th.java_id, th.os_id)] = e
    stamp: float | None
    try:
        # naive: read as this machine's local time, the same for every dump, so only
        # differences between dumps are used
        stamp = datetime.strptime(d.timestamp, "%Y-%m-%d %H:%M:%S").timestamp()
    except ValueError:
        stamp = None
    return _Facts(index, label, d, uptime, stamp, elapsed)


def _same_process(a: _Facts, b: _Facts) -> bool:
    da, db = a.dump, b.dump
    if da.pid and db.pid and da.pid != db.pid:
        return False
    if da.jvm and db.jvm and da.jvm != db.jvm:
        return False
    sa, sb = a.start, b.start
    if sa is not None and sb is not None and abs(sa - sb) > _SAME_START_S:
        return False
    if a.elapsed and b.elapsed:
        # One JVM keeps its threads (main, Reference Handler...): none in common means two
        # JVMs. A common one's elapsed= moves by the time between the dumps.
        small, big = (a.elapsed, b.elapsed) if len(a.elapsed) <= len(b.elapsed) else (
            b.elapsed, a.elapsed)
        common = next((k for k in small if k in big), None)
        if common is None:
            return False
        if a.uptime is not None and b.uptime is not None:
            moved = b.elapsed[common] - a.elapsed[common]
            if abs(moved - (b.uptime - a.uptime)) > _SAME_START_S:
                return False
        if a.stamp is not None and b.stamp is not None:
            moved = b.elapsed[common] - a.elapsed[common]
            if abs(moved - (b.stamp - a.stamp)) > _SAME_START_S:
                return False
    return True


def order_jvm_dumps(dumps: list[ThreadDump],
                    labels: list[str]) -> tuple[list[list[ThreadDump]], list[str]]:
    """Dumps (labels name them in warnings: "dump 2") -> one list per process, each in
    time order with the forms of one moment merged, and the warnings to show."""
    facts = [_facts(i, lb, d) for i, (lb, d) in enumerate(zip(labels, dumps, strict=True))]
    groups: list[list[_Facts]] = []
    for f in facts:
        g = next((g for g in groups if _same_process(g[0], f)), None)
        if g is None:
            groups.append([f])
        else:
            g.append(f)
    warnings: list[str] = []
    if all(f.stamp is not None for f in facts):  # numbered by time, whatever the input order
        groups.sort(key=lambda g: min(f.stamp or 0.0 for f in g))
    if len(groups) > 1:
        procs = "; ".join(f"process {i}: " + ", ".join(f.describe() for f in g)
                          for i, g in enumerate(groups, 1))
        warnings.append(f"the dumps come from {len(groups)} different processes, analyzed "
                        f"separately (no growth computed across them): {procs}")
    out: list[list[ThreadDump]] = []
    for g in groups:
        ordered, w = _in_time_order(g)
        warnings += w
        out.append([f.dump for f in ordered])
    return out, warnings


def _in_time_order(g: list[_Facts]) -> tuple[list[_Facts], list[str]]:
    if len(g) < 2:
        return g, []
    warnings: list[str] = []
    if all(f.uptime is not None for f in g):
        g = sorted(g, key=lambda f: f.uptime or 0.0)
    elif all(f.stamp is not None for f in g):
        g = sorted(g, key=lambda f: f.stamp or 0.0)
    else:
        blind = ", ".join(f.label for f in g if f.uptime is None and f.stamp is None)
        if blind:
            warnings.append(f"{blind}: no time in the dump (no timestamp line, no elapsed=): "
                            "dumps kept in the order given")
        else:  # some carry only a timestamp, some only elapsed=: not comparable
            warnings.append("the dumps carry different clocks (some a timestamp, some only "
                            "elapsed=): kept in the order given")
        return g, warnings
    if [f.index for f in g] != sorted(f.index for f in g):
        warnings.append("dumps analyzed in the order of the time they carry: "
                        + ", ".join(f.label for f in g))
    merged: list[_Facts] = [g[0]]
    for f in g[1:]:
        prev = merged[-1]
        if (prev.uptime is not None and f.uptime is not None
                and f.uptime - prev.uptime < _ONE_MOMENT_S):
            keep = f if f.rich() > prev.rich() else prev
            warnings.append(f"{prev.label} and {f.label} are one moment of one process "
                            f"({f.uptime - prev.uptime:.2f} s apart): analyzed once, as "
                            f"{keep.label}")
            merged[-1] = keep
        else:
            merged.append(f)
    return merged, warnings


def jvm_findings(dumps: list[ThreadDump], labels: list[str],
                 t: ThreadDumpThresholds) -> tuple[list[Finding], list[str]]:
    """The JVM rules over dumps given in any order, of one process or several: each
    process's dumps in time order, one rule run per process (its title says which when
    there are several)."""
    keep = [i for i, d in enumerate(dumps) if d.threads] or list(range(len(dumps)))
    if len(keep) == 1:  # the usual case: nothing to order, no one to compare with
        return thread_findings([dumps[keep[0]]], t), []
    procs, warnings = order_jvm_dumps([dumps[i] for i in keep], [labels[i] for i in keep])
    findings: list[Finding] = []
    where = {id(d): lb for d, lb in zip(dumps, labels, strict=True)}
    for n, series in enumerate(procs, 1):
        found = thread_findings(series, t)
        if len(procs) > 1:
            tag = f"process {n} ({', '.join(where[id(d)] for d in series)}): "
            for f in found:
                f.title = tag + f.title
        findings += found
    return findings, warnings
