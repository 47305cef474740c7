"""What changed between two snapshots: pure, from their typed results, so the
CLI and Slack show the same comparison. Thread dumps are compared through their
stored summaries (threads per pool, stack groups), never reparsed. hostsnap's
own footprint (the capture's sshd and sftp-server, LimitsSummary.own_pids) is
not a change of the host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from collectors.analysis.dumps import DumpDiff, diff_goroutine_dumps, diff_thread_dumps
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary, NetworkSummary
from collectors.analysis.results import GoroutinesResult, JvmResult
from collectors.analysis.stored import StoredSnapshot, result


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


Number = float | int | None


@dataclass(frozen=True, slots=True)
class _Host:
    """The host results a diff compares."""

    limits: LimitsSummary | None
    network: NetworkSummary | None
    memory: MemorySummary | None


def _host(s: StoredSnapshot) -> _Host:
    return _Host(limits=result(s, "limits", LimitsSummary),
                 network=result(s, "network", NetworkSummary),
                 memory=result(s, "memory", MemorySummary))


def _l(f: Callable[[LimitsSummary], Number]) -> Callable[[_Host], Number]:
    return lambda h: f(h.limits) if h.limits else None


def _n(f: Callable[[NetworkSummary], Number]) -> Callable[[_Host], Number]:
    return lambda h: f(h.network) if h.network else None


def _m(f: Callable[[MemorySummary], Number]) -> Callable[[_Host], Number]:
    return lambda h: f(h.memory) if h.memory else None


NUMBERS: list[tuple[str, Callable[[_Host], Number]]] = [
    ("threads (visible processes)", _l(lambda r: r.visible_threads)),
    ("kernel tasks", _l(lambda r: r.kernel_tasks)),
    ("processes", _l(lambda r: r.processes)),
    ("threads-max", _l(lambda r: r.threads_max)),
    ("TIME_WAIT", _n(lambda r: r.time_wait)),
    ("TCP sockets", _n(lambda r: r.total)),
    ("ESTABLISHED", _n(lambda r: r.states.get("ESTABLISHED"))),
    ("CLOSE_WAIT", _n(lambda r: r.states.get("CLOSE_WAIT"))),
    ("MemAvailable kB", _m(lambda r: r.mem_available_kb)),
    ("OOM kills since boot", _m(lambda r: r.oom_kills_since_boot)),
]


def _finding_keys(v: StoredSnapshot) -> dict[str, str]:
    return {f"{f.rule} {f.subject}".strip(): f"{f.rule}: {f.title}" for f in v.finding_list}


def _top(lim: LimitsSummary | None) -> dict[int, tuple[str, int]]:
    """pid -> (name, threads) of the top processes, the capture's own left out."""
    if lim is None:
        return {}
    own = set(lim.own_pids)
    return {p.pid: (p.name, p.threads) for p in lim.top if p.pid not in own}


def diff_snapshots(a: StoredSnapshot, b: StoredSnapshot) -> SnapshotDiff:
    """`a` is the older one (swapped if given the other way round)."""
    if b.created_at < a.created_at:
        a, b = b, a
    out = SnapshotDiff(older=a.id, newer=b.id, host_older=a.host, host_newer=b.host,
                       seconds_apart=(b.created_at - a.created_at).total_seconds())
    if a.host != b.host:
        out.notes.append(f"different hosts: {a.host} and {b.host}")
    ha, hb = _host(a), _host(b)
    for label, get in NUMBERS:
        x, y = get(ha), get(hb)
        if x is None and y is None:
            continue
        if x != y:
            out.numbers.append(NumberDelta(name=label, before=x, after=y))

    top_a, top_b = _top(ha.limits), _top(hb.limits)
    for pid in top_a.keys() | top_b.keys():
        (name_a, before), (name_b, after) = top_a.get(pid, ("", 0)), top_b.get(pid, ("", 0))
        if before != after:
            out.processes.append(ProcessDelta(pid=pid, name=name_b or name_a or "?",
                                              before=before, after=after))
    out.processes.sort(key=lambda p: -abs(p.after - p.before))

    fa, fb = _finding_keys(a), _finding_keys(b)
    out.findings_new = [fb[k] for k in fb.keys() - fa.keys()]
    out.findings_gone = [fa[k] for k in fa.keys() - fb.keys()]

    ja, jb = result(a, "jvm", JvmResult), result(b, "jvm", JvmResult)
    jv_a = {j.pid: j.summary for j in (ja.jvms if ja else []) if j.summary}
    jv_b = {j.pid: j.summary for j in (jb.jvms if jb else []) if j.summary}
    for pid in sorted(jv_a.keys() & jv_b.keys()):
        out.dumps.append(DumpChange(subject=f"java pid {pid}",
                                    diff=diff_thread_dumps(jv_a[pid], jv_b[pid])))
    for pid in sorted(jv_a.keys() ^ jv_b.keys()):
        out.notes.append(f"java pid {pid} dumped in only one snapshot (restarted?)")
    ga, gb = result(a, "goroutines", GoroutinesResult), result(b, "goroutines", GoroutinesResult)
    go_a = {e.endpoint: e.summary for e in (ga.endpoints if ga else []) if e.summary}
    go_b = {e.endpoint: e.summary for e in (gb.endpoints if gb else []) if e.summary}
    for ep in sorted(k for k in go_a.keys() & go_b.keys() if k):
        out.dumps.append(DumpChange(subject=f"pprof {ep}",
                                    diff=diff_goroutine_dumps(go_a[ep], go_b[ep])))
    return out
