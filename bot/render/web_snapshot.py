"""What the snapshot page shows beyond the verdict and findings, from the
stored view alone (no dump is parsed): ceilings as gauges, top consumers,
TCP, OOM kills, collectors, raw files, dumps. Pure: the page renders it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.render.svg.gauges import bar, gauge, level
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary, NetworkSummary

if TYPE_CHECKING:
    from bot.store.views import SnapshotView


@dataclass(frozen=True)
class Gauge:
    label: str
    used: int
    limit: int | None
    svg: str


@dataclass(frozen=True)
class Dump:
    """A thread dump among the raw files, explored at /s/<id>/dump/<n>."""

    n: int
    name: str
    kind: str  # jvm, go
    size: int


def _model(v: SnapshotView, key: str, cls: Any) -> Any:
    try:
        return cls.model_validate(v.parsed[key]) if key in v.parsed else None
    except ValidationError:  # stored by an older hostsnap
        return None


def ceilings(lim: LimitsSummary | None) -> list[Gauge]:
    if lim is None:
        return []
    out: list[Gauge] = []
    used = lim.system_threads

    def add(label: str, n: int, limit: int | None) -> None:
        out.append(Gauge(label, n, limit, gauge(label, n, limit)))

    if lim.threads_max:
        add("threads vs threads-max", used, lim.threads_max)
    if lim.pid_max:
        add("threads vs pid_max", used, lim.pid_max)
    for cg in lim.cgroups:
        if cg.pids_current is not None:
            add(f"cgroup {cg.path} pids.max", cg.pids_current, cg.pids_max)
    for u in lim.users:
        if u.nproc_limit:
            add(f"user {u.user} ulimit -u", u.threads, u.nproc_limit)
    return out


def dumps(v: SnapshotView) -> list[Dump]:
    """The snapshot's thread dumps, numbered as the explorer numbers them:
    in the order of the raw files list."""
    out: list[Dump] = []
    for a in v.artifacts:
        kind = dump_kind(a.name)
        if kind:
            out.append(Dump(len(out), a.name, kind, a.size))
    return out


_DUMP_NAMES = (("jvm", re.compile(r"^jvm/\d+-dump\d+\.txt$")),
               ("go", re.compile(r"^goroutines/.+\.debug[12]\.txt$")))


def dump_kind(name: str) -> str:
    """jvm, go or "" (not a thread dump), from the name the collector gave it."""
    return next((kind for kind, rx in _DUMP_NAMES if rx.match(name)), "")


def collector_bars(v: SnapshotView) -> dict[str, str]:
    """Each collector's time as a bar against the slowest one."""
    slowest = max((c.duration_s for c in v.collectors), default=0.0) or 1.0
    return {c.name: bar(c.duration_s / slowest, f"{c.name}: {c.duration_s:.2f} s",
                        cls="ok" if c.status in ("ok", "skipped") else "crit")
            for c in v.collectors}


def remote_bars(net: NetworkSummary | None) -> list[tuple[str, int, float, str]]:
    """(remote, TIME_WAIT sockets, share of the port range, bar): a remote
    that holds most of the ephemeral ports is what exhausts them."""
    if net is None or not net.port_range_size:
        return []
    size = net.port_range_size
    return [(e.endpoint, e.count, e.count / size,
             bar(e.count / size, f"{e.endpoint}: {e.count:,} of {size:,} ports",
                 cls=level(e.count, size, 0.3, 0.6)))
            for e in net.top_time_wait_remotes]


def snapshot_context(v: SnapshotView) -> dict[str, Any]:
    lim = _model(v, "limits", LimitsSummary)
    mem = _model(v, "memory", MemorySummary)
    net = _model(v, "network", NetworkSummary)
    tw_gauge = ""
    if net is not None and net.port_range_size:
        tw_gauge = gauge("TIME_WAIT vs ephemeral ports", net.time_wait_ephemeral or
                         net.time_wait, net.port_range_size)
    return {"ceilings": ceilings(lim), "limits": lim, "memory": mem, "network": net,
            "tw_gauge": tw_gauge, "dumps": dumps(v), "collector_bars": collector_bars(v),
            "remotes": remote_bars(net)}
