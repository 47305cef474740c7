"""The few numbers a responder looks for first, always shown (issue 16):
threads against the nearest ceiling (and which one), TIME_WAIT against the
port range, memory available, the top consumer — and "no ceiling near" when
none is. A pure function of the stored view, for every renderer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from collectors.analysis.findings import fmt_int
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary, NetworkSummary
from collectors.analysis.thresholds import HostThresholds

if TYPE_CHECKING:
    from bot.store.views import SnapshotView


def _gib(kb: int) -> str:
    return f"{kb / 2**20:.1f} GiB"


def _pct(used: int, limit: int) -> str:
    return f"{100 * used / limit:.0f} %"


def nearest_ceiling(s: LimitsSummary) -> tuple[str, int, int] | None:
    """(which ceiling, used, limit) with the highest use, of threads-max,
    pid_max, each cgroup's pids.max and each user's `ulimit -u`."""
    cands: list[tuple[str, int, int]] = []
    for label, limit in (("threads-max", s.threads_max), ("pid_max", s.pid_max)):
        if limit:
            cands.append((label, s.system_threads, limit))
    for cg in s.cgroups:
        if cg.pids_max and cg.pids_current is not None:
            cands.append((f"pids.max of cgroup {cg.path}", cg.pids_current, cg.pids_max))
    for u in s.users:
        if u.nproc_limit:
            cands.append((f"ulimit -u of user {u.user}", u.threads, u.nproc_limit))
    return max(cands, key=lambda c: c[1] / c[2], default=None)


def key_facts(v: SnapshotView, t: HostThresholds | None = None) -> list[str]:
    """Plain-text lines (renderers escape them), in the order read."""
    t = t or HostThresholds()
    out: list[str] = []
    try:
        lim = LimitsSummary.model_validate(v.parsed["limits"]) if "limits" in v.parsed else None
        mem = MemorySummary.model_validate(v.parsed["memory"]) if "memory" in v.parsed else None
        net = NetworkSummary.model_validate(v.parsed["network"]) if "network" in v.parsed \
            else None
    except ValidationError:  # stored by an older hostsnap: the findings still say it
        return out
    if lim is not None:
        near = nearest_ceiling(lim)
        if near:
            label, used, limit = near
            line = f"threads {fmt_int(used)} of {label} {fmt_int(limit)} ({_pct(used, limit)})"
            if used / limit < t.ceiling_warning:
                line += " — no ceiling near"
            out.append(line)
        if lim.top:
            p = lim.top[0]
            out.append(f"top consumer: {p.name} pid {p.pid} ({p.user}) "
                       f"{fmt_int(p.threads)} threads")
    if net is not None:
        size = net.port_range_size
        out.append(f"TIME_WAIT {fmt_int(net.time_wait)}"
                   + (f" of {fmt_int(size)} ports (ip_local_port_range)" if size else ""))
    if mem is not None and mem.mem_total_kb:
        out.append(f"memory available {_gib(mem.mem_available_kb)} of "
                   f"{_gib(mem.mem_total_kb)}")
    return out
