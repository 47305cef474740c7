"""What changed between two snapshots: pure, from stored data only, so the CLI
and Slack show the same comparison. Thread dumps are compared through their
stored summaries (threads per pool, stack groups), never reparsed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bot.store.views import SnapshotView
from collectors.analysis.dumps import DumpDiff, diff_goroutine_dumps, diff_thread_dumps


class NumberDelta(BaseModel):
    name: str
    before: float | int | None
    after: float | int | None

    @property
    def delta(self) -> float | int | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


class ProcessDelta(BaseModel):
    pid: int
    name: str
    before: int
    after: int


class DumpChange(BaseModel):
    subject: str  # "java pid 811", "pprof 127.0.0.1:6060"
    diff: DumpDiff


class SnapshotDiff(BaseModel):
    older: str
    newer: str
    host_older: str
    host_newer: str
    seconds_apart: float
    numbers: list[NumberDelta] = Field(default_factory=list)
    processes: list[ProcessDelta] = Field(default_factory=list)
    findings_new: list[str] = Field(default_factory=list)
    findings_gone: list[str] = Field(default_factory=list)
    dumps: list[DumpChange] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _get(d: dict[str, Any], *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


NUMBERS: list[tuple[str, tuple[str, ...]]] = [
    ("threads (visible processes)", ("limits", "visible_threads")),
    ("kernel tasks", ("limits", "kernel_tasks")),
    ("processes", ("limits", "processes")),
    ("threads-max", ("limits", "threads_max")),
    ("TIME_WAIT", ("network", "time_wait")),
    ("TCP sockets", ("network", "total")),
    ("ESTABLISHED", ("network", "states", "ESTABLISHED")),
    ("CLOSE_WAIT", ("network", "states", "CLOSE_WAIT")),
    ("MemAvailable kB", ("memory", "mem_available_kb")),
    ("OOM kills since boot", ("memory", "oom_kills_since_boot")),
]


def _finding_keys(v: SnapshotView) -> dict[str, str]:
    return {f"{f.rule} {f.subject}".strip(): f"{f.rule}: {f.title}" for f in v.finding_list}


def diff_snapshots(a: SnapshotView, b: SnapshotView) -> SnapshotDiff:
    """`a` is the older one (swapped if given the other way round)."""
    if b.created_at < a.created_at:
        a, b = b, a
    out = SnapshotDiff(older=a.id, newer=b.id, host_older=a.host, host_newer=b.host,
                       seconds_apart=(b.created_at - a.created_at).total_seconds())
    if a.host != b.host:
        out.notes.append(f"different hosts: {a.host} and {b.host}")
    for label, path in NUMBERS:
        x, y = _get(a.parsed, *path), _get(b.parsed, *path)
        if x is None and y is None:
            continue
        if x != y:
            out.numbers.append(NumberDelta(name=label, before=x, after=y))

    top_a = {p["pid"]: p for p in _get(a.parsed, "limits", "top") or []}
    top_b = {p["pid"]: p for p in _get(b.parsed, "limits", "top") or []}
    for pid in top_a.keys() | top_b.keys():
        pa, pb = top_a.get(pid), top_b.get(pid)
        before, after = (pa or {}).get("threads", 0), (pb or {}).get("threads", 0)
        if before != after:
            out.processes.append(ProcessDelta(pid=pid, name=(pb or pa or {}).get("name", "?"),
                                              before=before, after=after))
    out.processes.sort(key=lambda p: -abs(p.after - p.before))

    fa, fb = _finding_keys(a), _finding_keys(b)
    out.findings_new = [fb[k] for k in fb.keys() - fa.keys()]
    out.findings_gone = [fa[k] for k in fa.keys() - fb.keys()]

    jv_a = {j["pid"]: j for j in _get(a.parsed, "jvm", "jvms") or [] if j.get("summary")}
    jv_b = {j["pid"]: j for j in _get(b.parsed, "jvm", "jvms") or [] if j.get("summary")}
    for pid in sorted(jv_a.keys() & jv_b.keys()):
        out.dumps.append(DumpChange(subject=f"java pid {pid}", diff=diff_thread_dumps(
            jv_a[pid]["summary"], jv_b[pid]["summary"])))
    for pid in sorted(jv_a.keys() ^ jv_b.keys()):
        out.notes.append(f"java pid {pid} dumped in only one snapshot (restarted?)")
    go_a = {e.get("endpoint"): e for e in _get(a.parsed, "goroutines", "endpoints") or []
            if e.get("summary")}
    go_b = {e.get("endpoint"): e for e in _get(b.parsed, "goroutines", "endpoints") or []
            if e.get("summary")}
    for ep in sorted(k for k in go_a.keys() & go_b.keys() if k):
        out.dumps.append(DumpChange(subject=f"pprof {ep}", diff=diff_goroutine_dumps(
            go_a[ep]["summary"], go_b[ep]["summary"])))
    return out
