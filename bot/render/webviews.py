"""What the compare, host and fleet pages draw, from the core's results (a
SnapshotDiff, a host's points, a FleetSummary): pure, so the pictures are
tested without a server. The SVGs escape their own text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.render.svg.bars import Bar, bars
from bot.render.svg.timeline import Point, line_chart
from bot.store.views import SnapshotSummary
from collectors.analysis.diff import SnapshotDiff
from collectors.analysis.dumps import DumpDiff
from collectors.analysis.fleet import FleetSummary


def human_size(n: int | float | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):  # binary, as the key facts say memory
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"

def snapshot_href(sid: str) -> str:
    return f"/s/{sid}"


# --- compare ------------------------------------------------------------------------------

def dump_bars(d: DumpDiff, rows: int = 15) -> dict[str, str]:
    """Per pool and per stack group, before -> after (biggest changes first)."""
    groups = sorted([*d.changed, *d.appeared, *d.vanished], key=lambda g: -abs(g.delta))[:rows]
    unit = "goroutines" if d.kind == "go" else "threads"
    pools = [p for p in d.pools if p.delta]  # the unchanged ones are in the table
    return {
        "pools": bars([Bar(p.name, p.after, before=p.before) for p in pools[:rows]],
                      f"{unit} per {'creator' if d.kind == 'go' else 'pool'}, before → after")
        if pools else "",
        "groups": bars([Bar(g.top_frame or g.key, g.after, before=g.before) for g in groups],
                       f"stack groups, before → after ({g_state(groups)})") if groups else "",
    }


def g_state(groups: Sequence[Any]) -> str:
    states = sorted({g.state for g in groups if g.state})
    return ", ".join(states[:4]) or "all states"


def _number_bar(name: str, before: int | float, after: int | float) -> Bar:
    """Memory numbers ("MemAvailable kB") as sizes, as the table beside them."""
    if not name.endswith(" kB"):
        return Bar(name, after, before=before)
    d = after - before
    text = (f"{human_size(before * 1024)} → {human_size(after * 1024)} "
            f"({'-' if d < 0 else '+'}{human_size(abs(d) * 1024)})")
    return Bar(name[:-3], after, before=before, text=text)


def compare_context(d: SnapshotDiff) -> dict[str, Any]:
    numbers = [n for n in d.numbers if n.before is not None and n.after is not None]
    return {
        "numbers_svg": bars([_number_bar(n.name, n.before, n.after)
                             for n in numbers if n.before is not None and n.after is not None],
                            "host numbers, before → after (each on its own scale)",
                            per_row=True) if numbers else "",
        "processes_svg": bars([Bar(f"{p.name} pid {p.pid}", p.after, before=p.before)
                               for p in d.processes[:20]], "threads per process, before → after")
        if d.processes else "",
        "dumps": [{"subject": c.subject, "diff": c.diff, **dump_bars(c.diff)} for c in d.dumps],
    }


# --- a host's timeline --------------------------------------------------------------------

class HostPointLike(Protocol):
    @property
    def snapshot(self) -> SnapshotSummary: ...
    @property
    def threads(self) -> int | None: ...
    @property
    def time_wait(self) -> int | None: ...
    @property
    def mem_used_pct(self) -> float | None: ...


@dataclass(frozen=True)
class Series:
    key: str
    title: str
    unit: str = ""


SERIES = [Series("threads", "threads (processes hostsnap saw)"),
          Series("time_wait", "TIME_WAIT sockets"),
          Series("mem_used_pct", "memory used", " %")]


def timeline_charts(points: Sequence[HostPointLike]) -> list[str]:
    """One line chart per number, the snapshots placed by when they were taken."""
    out = []
    for s in SERIES:
        pts = [Point(at=p.snapshot.created_at, value=getattr(p, s.key),
                     href=snapshot_href(p.snapshot.id),
                     label=f"{p.snapshot.id} {p.snapshot.status}"
                           + (f" — {p.snapshot.headline}" if p.snapshot.headline else ""),
                     alarm=p.snapshot.critical > 0) for p in points]
        out.append(line_chart(pts, s.title, s.unit))
    return out


# --- a fleet ------------------------------------------------------------------------------

FLEET_METRICS = [("threads", "threads", ""), ("time_wait", "TIME_WAIT", ""),
                 ("mem_used_pct", "memory used", " %")]


def fleet_charts(f: FleetSummary) -> list[str]:
    """Bars per host for each number, biggest first; the hosts that stand out in
    it marked (robust z-score within their group: collectors.analysis.fleet)."""
    out = []
    for attr, title, unit in FLEET_METRICS:
        marked = {s.host for s in f.standouts if s.what == attr}
        rows = sorted((r for r in f.rows if getattr(r, attr) is not None),
                      key=lambda r: -float(getattr(r, attr)))
        if not rows:
            continue
        out.append(bars([Bar(r.host, getattr(r, attr), marked=r.host in marked,
                             href=snapshot_href(r.snapshot_id),
                             note="stands out" if r.host in marked else "")
                         for r in rows], f"{title} per host", unit=unit, max_rows=60))
    return out
