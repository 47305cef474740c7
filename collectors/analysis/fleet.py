"""Fleet summary of a multi-host capture: which hosts stand out.

Outliers by a robust z-score (median and MAD) so one sick host in ten is not
hidden by its own numbers; differences in processes and versions are judged
within a host group, against what most of the group runs (004: stale nodes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import median

from pydantic import BaseModel, Field

from collectors.analysis.findings import fmt_int
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary, NetworkSummary
from collectors.analysis.stored import StoredSnapshot, result

#: hosts of one group needed before one of them can be called an outlier
MIN_GROUP = 3


class HostRow(BaseModel):
    host: str
    group: str
    snapshot_id: str
    status: str
    threads: int | None = None
    time_wait: int | None = None
    mem_used_pct: float | None = None
    processes: int | None = None
    critical: int = 0
    headline: str = ""


class Standout(BaseModel):
    host: str
    what: str  # threads, time_wait, memory, processes, version, process-set
    text: str


class FleetSummary(BaseModel):
    rows: list[HostRow] = Field(default_factory=list)
    standouts: list[Standout] = Field(default_factory=list)


def _row(v: StoredSnapshot) -> HostRow:
    lim = result(v, "limits", LimitsSummary)
    net = result(v, "network", NetworkSummary)
    mem = result(v, "memory", MemorySummary)
    return HostRow(
        host=v.host, group=v.host_group, snapshot_id=v.id, status=v.status,
        # threads of the processes we saw: in a container or pid namespace the
        # kernel-wide count belongs to the whole machine, not to this host
        threads=lim.visible_threads if lim else None,
        time_wait=net.time_wait if net else None,
        mem_used_pct=round(100 * (1 - mem.mem_available_kb / mem.mem_total_kb), 1)
        if mem and mem.mem_total_kb else None,
        processes=lim.processes if lim else None,
        critical=v.critical, headline=v.headline,
    )


def _outliers(rows: list[HostRow], attr: str, label: str, min_abs: float,
              fmt: str = "int") -> list[Standout]:
    vals = [(r.host, getattr(r, attr)) for r in rows if getattr(r, attr) is not None]
    if len(vals) < MIN_GROUP:
        return []
    xs = [float(x) for _, x in vals]
    med = median(xs)
    mad = median(abs(x - med) for x in xs) or max(1.0, med * 0.05)
    out = []
    for host, x in vals:
        z = (float(x) - med) / (1.4826 * mad)
        if z > 3.5 and float(x) - med >= min_abs:
            shown = fmt_int(int(x)) if fmt == "int" else f"{x:.0f}%"
            typical = fmt_int(int(med)) if fmt == "int" else f"{med:.0f}%"
            out.append(Standout(host=host, what=attr,
                                text=f"{host}: {label} {shown} (group median {typical})"))
    return out


def summarize(views: Sequence[StoredSnapshot]) -> FleetSummary:
    rows = [_row(v) for v in views]
    fs = FleetSummary(rows=rows)
    by_group: dict[str, list[StoredSnapshot]] = {}
    for v in views:
        by_group.setdefault(v.host_group or "(no group)", []).append(v)
    for members in by_group.values():
        mrows = [r for r in rows if r.host in {v.host for v in members}]
        fs.standouts += _outliers(mrows, "threads", "threads", 200)
        fs.standouts += _outliers(mrows, "time_wait", "TIME_WAIT", 500)
        fs.standouts += _outliers(mrows, "mem_used_pct", "memory used", 15, fmt="pct")
        if len(members) >= MIN_GROUP:
            fs.standouts += _process_differences(members)
    return fs


def _process_differences(members: Sequence[StoredSnapshot]) -> list[Standout]:
    out: list[Standout] = []
    n = len(members)
    lims = {v.host: result(v, "limits", LimitsSummary) for v in members}
    names = {h: set(lim.process_names) if lim else set() for h, lim in lims.items()}
    vers = {h: lim.versions if lim else {} for h, lim in lims.items()}
    counts: Counter[str] = Counter(p for s in names.values() for p in s)
    common = {p for p, c in counts.items() if c >= max(2, (n * 2 + 2) // 3)}
    for host, have in names.items():
        if not have:
            continue
        missing = sorted(common - have)
        if missing:
            out.append(Standout(host=host, what="process-set",
                                text=f"{host}: not running {', '.join(missing[:5])} "
                                     f"(running on {counts[missing[0]]} of {n})"))
    artifacts: set[str] = {a for v in vers.values() for a in v}
    for art in sorted(artifacts):
        seen = Counter(v[art] for v in vers.values() if art in v)
        if len(seen) < 2:
            continue
        majority, mcount = seen.most_common(1)[0]
        for host, v in vers.items():
            if art in v and v[art] != majority:
                out.append(Standout(host=host, what="version",
                                    text=f"{host}: runs {art} {v[art]} while {mcount} of "
                                         f"{n} run {majority}"))
    return out
