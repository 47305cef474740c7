"""A host's snapshots on a time axis: one line chart per number (threads,
TIME_WAIT, memory used), points placed by when they were taken, so a slow
leak over days is a rising line; each point links to its snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.render.svg.draw import ACCENT, GROWTH, INK, MUTED, attr, esc, num, svg_open

WIDTH = 720
HEIGHT = 120
LEFT = 64
RIGHT = 16
TOP = 22
BOTTOM = 20


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float | int | None  # None: not measured in that snapshot (a gap)
    href: str
    label: str  # tooltip: the snapshot's id and headline
    alarm: bool = False  # the snapshot had a critical finding


def line_chart(points: list[Point], title: str, unit: str = "") -> str:
    """`points` oldest first. An x axis in time, a y axis from 0 (a leak is
    judged against zero, not against its own minimum)."""
    pts = sorted(points, key=lambda p: p.at)
    vals = [float(p.value) for p in pts if p.value is not None]
    out = [svg_open(WIDTH, HEIGHT, title, "timeline"), f"<title>{esc(title)}</title>",
           f'<text x="0" y="13" fill="{INK}" font-weight="600">{esc(title)}</text>']
    if not vals:
        out.append(f'<text x="{LEFT}" y="{HEIGHT // 2}" fill="{MUTED}">not measured in '
                   f'these snapshots</text></svg>')
        return "".join(out)
    top = max(vals) * 1.1 or 1.0
    t0, t1 = pts[0].at.timestamp(), pts[-1].at.timestamp()
    span = (t1 - t0) or 1.0
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def xy(p: Point) -> tuple[float, float]:
        x = LEFT + (pw / 2 if t1 == t0 else pw * (p.at.timestamp() - t0) / span)
        y = TOP + ph - ph * float(p.value or 0) / top
        return x, y

    # axes: 0 and the top value; the first and last dates
    out.append(f'<path d="M{LEFT} {TOP} L{LEFT} {TOP + ph} L{LEFT + pw} {TOP + ph}" '
               f'stroke="{MUTED}" fill="none"/>')
    out.append(f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" fill="{MUTED}">'
               f'{esc(num(round(max(vals))))}{esc(unit)}</text>')
    out.append(f'<text x="{LEFT - 4}" y="{TOP + ph}" text-anchor="end" fill="{MUTED}">0</text>')
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 4}" fill="{MUTED}">'
               f'{esc(pts[0].at.strftime("%Y-%m-%d %H:%M"))}</text>')
    if t1 != t0:
        out.append(f'<text x="{LEFT + pw}" y="{HEIGHT - 4}" text-anchor="end" fill="{MUTED}">'
                   f'{esc(pts[-1].at.strftime("%Y-%m-%d %H:%M"))}</text>')
    # the line, broken where a snapshot did not measure it
    segs: list[list[tuple[float, float]]] = [[]]
    for p in pts:
        if p.value is None:
            if segs[-1]:
                segs.append([])
            continue
        segs[-1].append(xy(p))
    for seg in segs:
        if len(seg) > 1:
            d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f} {y:.1f}" for i, (x, y) in
                         enumerate(seg))
            out.append(f'<path d="{d}" stroke="{ACCENT}" stroke-width="1.5" fill="none"/>')
    for p in pts:
        if p.value is None:
            continue
        x, y = xy(p)
        tip = f"{p.label}: {num(p.value)}{unit} at {p.at.strftime('%Y-%m-%d %H:%M')}"
        out.append(f'<a href={attr(p.href)}><circle cx="{x:.1f}" cy="{y:.1f}" r="4" '
                   f'fill="{GROWTH if p.alarm else ACCENT}"><title>{esc(tip)}</title>'
                   f"</circle></a>")
    out.append("</svg>")
    return "".join(out)
