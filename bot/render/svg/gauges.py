"""Gauges: how close a count is to its ceiling (threads vs threads-max,
a cgroup's pids vs pids.max, TIME_WAIT vs the port range)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

WIDTH = 400
HEIGHT = 34
BAR_Y = 16
BAR_H = 12
#: width of a character of the 11 px labels, wide enough for DejaVu Sans
CHAR_W = 6.6


def level(used: int, limit: int, warn: float = 0.7, crit: float = 0.9) -> str:
    """ok / warn / crit: the CSS class of the bar (colour is in the stylesheet)."""
    ratio = used / limit if limit else 0.0
    return "crit" if ratio >= crit else "warn" if ratio >= warn else "ok"


def gauge(label: str, used: int, limit: int | None, *, warn: float = 0.7,
          crit: float = 0.9) -> str:
    """One horizontal bar; no limit ("max"/none) draws the count alone."""
    title = f"{label}: {used:,} of {limit:,}" if limit else f"{label}: {used:,} (no limit)"
    ratio = min(1.0, used / limit) if limit else 0.0
    cls = level(used, limit, warn, crit) if limit else "none"
    pct = f"{100 * used / limit:.0f} %" if limit else "no limit"
    fill = round(WIDTH * ratio, 1)
    right = f"{used:,} / {limit:,} ({pct})" if limit else f"{used:,} ({pct})"
    # the label gets what the number leaves of the line (the whole one is in <title>)
    room = max(8, int((WIDTH - CHAR_W * len(right)) / CHAR_W) - 2)
    return (
        f'<svg class="gauge" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-label={quoteattr(title)}><title>{escape(title)}</title>'
        f'<text x="0" y="11" class="gauge-label">{escape(_cut(label, room))}</text>'
        f'<text x="{WIDTH}" y="11" text-anchor="end" class="gauge-value">{escape(right)}</text>'
        f'<rect x="0" y="{BAR_Y}" width="{WIDTH}" height="{BAR_H}" rx="2" class="gauge-bg"/>'
        f'<rect x="0" y="{BAR_Y}" width="{fill}" height="{BAR_H}" rx="2" '
        f'class="gauge-fill {cls}"/></svg>')


def _cut(text: str, n: int) -> str:
    """Cut in the middle: a cgroup path's start and its ceiling's name both matter."""
    if len(text) <= n:
        return text
    head = (n - 1) // 2
    return text[:head] + "…" + text[len(text) - (n - 1 - head):]


def bar(fraction: float, title: str, *, width: int = 120, cls: str = "ok") -> str:
    """A small bar inside a table cell (a collector's time, a remote's share)."""
    fill = round(width * max(0.0, min(1.0, fraction)), 1)
    return (f'<svg class="bar" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
            f'height="10" viewBox="0 0 {width} 10" aria-label={quoteattr(title)}>'
            f'<title>{escape(title)}</title>'
            f'<rect x="0" y="1" width="{width}" height="8" class="gauge-bg"/>'
            f'<rect x="0" y="1" width="{fill}" height="8" class="gauge-fill {cls}"/></svg>')
