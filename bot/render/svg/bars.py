"""Horizontal bars: one value per row (fleet: threads per host, outliers
marked), or a before -> after pair per row (compare: what grew, what shrank)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.render.svg.draw import (
    ACCENT,
    GROWTH,
    INK,
    MUTED,
    NEUTRAL,
    SHRINK,
    attr,
    esc,
    fit,
    num,
    svg_open,
)

LABEL_W = 230
BAR_W = 360
VALUE_W = 240
ROW = 22
BAR_H = 14


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | int | None
    before: float | int | None = None  # set: drawn as before -> after
    marked: bool = False  # an outlier: drawn in the alarm colour, with a mark
    href: str | None = None  # the row links there (a snapshot, a host)
    note: str = ""  # after the number ("47 %", "group median 310")
    text: str = ""  # said instead of the numbers (sizes: "6.9 GiB → 6.4 GiB (-468.7 MiB)")


def bars(rows: list[Bar], title: str, *, unit: str = "", max_rows: int = 40,
         per_row: bool = False) -> str:
    """One row per Bar, all on one scale (the largest value fills the width), or
    with `per_row` each on its own (numbers of different units: threads, kB)."""
    rows = rows[:max_rows]
    top = max([abs(float(v)) for r in rows for v in (r.value, r.before) if v is not None]
              or [1.0]) or 1.0
    width = LABEL_W + BAR_W + VALUE_W
    height = 20 + ROW * max(1, len(rows))
    out = [svg_open(width, height, title, "bars"), f"<title>{esc(title)}</title>",
           f'<text x="0" y="13" fill="{INK}" font-weight="600">{esc(fit(title, width))}</text>']
    if not rows:
        out.append(f'<text x="0" y="34" fill="{MUTED}">nothing to draw</text>')
    for i, r in enumerate(rows):
        y = 20 + i * ROW
        scale = top
        if per_row:
            scale = max(abs(float(v)) for v in (r.value, r.before, 1) if v is not None) or 1.0
        out.append(_row(r, y, scale, unit))
    out.append("</svg>")
    return "".join(out)


def _row(r: Bar, y: float, top: float, unit: str) -> str:
    def w(v: float | int | None) -> float:
        return 0.0 if v is None else max(0.0, BAR_W * float(v) / top)

    tip = f"{r.label}: " + (f"{num(r.before)} → {num(r.value)}{unit}" if r.before is not None
                            else f"{num(r.value)}{unit}") + (f" ({r.note})" if r.note else "")
    parts = [f"<g><title>{esc(tip)}</title>"]
    label = ("⚠ " if r.marked else "") + r.label
    parts.append(f'<text x="{LABEL_W - 8}" y="{y + 11}" text-anchor="end" '
                 f'fill="{GROWTH if r.marked else INK}">{esc(fit(label, LABEL_W - 8))}</text>')
    x0 = LABEL_W
    if r.before is not None and r.value is not None:
        wb, wa = w(r.before), w(r.value)
        grew = float(r.value) > float(r.before)
        parts.append(f'<rect x="{x0}" y="{y + 1}" width="{min(wb, wa):.1f}" height="{BAR_H}" '
                     f'fill="{NEUTRAL}"/>')
        if wa != wb:
            parts.append(f'<rect x="{x0 + min(wb, wa):.1f}" y="{y + 1}" '
                         f'width="{abs(wa - wb):.1f}" height="{BAR_H}" '
                         f'fill="{GROWTH if grew else SHRINK}"'
                         + ("" if grew else ' fill-opacity="0.35"') + "/>")
            # the arrow says which way it went
            xa, xb = x0 + wb, x0 + wa
            tip_x = xb - 5 if grew else xb + 5
            if abs(xb - xa) >= 8:
                parts.append(f'<path d="M{xa:.1f} {y + 8} L{xb:.1f} {y + 8} M{tip_x:.1f} '
                             f'{y + 4} L{xb:.1f} {y + 8} L{tip_x:.1f} {y + 12}" '
                             f'stroke="{INK}" stroke-width="1.2" fill="none"/>')
        d = float(r.value) - float(r.before)
        text = f"{num(r.before)} → {num(r.value)}{unit} ({'+' if d >= 0 else ''}{num(d)})"
    else:
        colour = GROWTH if r.marked else ACCENT
        parts.append(f'<rect x="{x0}" y="{y + 1}" width="{w(r.value):.1f}" height="{BAR_H}" '
                     f'fill="{colour}"/>')
        text = f"{num(r.value)}{unit}"
    if r.text:
        text = r.text
    if r.note:
        text += f"  {r.note}"
    parts.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 11}" fill="{INK}">'
                 f'{esc(fit(text, VALUE_W - 6, 6.2))}</text>')
    parts.append("</g>")
    g = "".join(parts)
    return f"<a href={attr(r.href)}>{g}</a>" if r.href else g
