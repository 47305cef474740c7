"""An icicle of every stack of a dump: the outermost frame on top, each frame
as wide as the threads that pass through it, so where most threads sit (or
wait) is the widest column. Narrow frames are left out (their threads still
count in their parents' width), which bounds the picture's size whatever the
dump: 100 000 goroutines draw as a few hundred boxes."""

from __future__ import annotations

import zlib

from bot.render.dumpview import FlameNode
from bot.render.svg.draw import INK, MUTED, esc, fit, num, svg_open

WIDTH = 1100
ROW = 17
MIN_W = 3.0  # px: narrower frames are not drawn
MAX_BOXES = 1500


def _colour(name: str) -> str:
    """Warm colours, stable per frame name (crc32: Python's hash() changes per run)."""
    h = zlib.crc32(name.encode())
    return f"hsl({10 + h % 45}, {60 + (h >> 8) % 25}%, {62 + (h >> 16) % 14}%)"


def icicle(root: FlameNode, title: str, *, unit: str = "threads") -> str:
    boxes: list[str] = []
    depth_seen = 0
    total = root.count or 1
    # breadth-first, so the box budget keeps the top levels whole
    level: list[tuple[FlameNode, float, float]] = [(root, 0.0, float(WIDTH))]
    depth = 0
    while level and len(boxes) < MAX_BOXES:
        nxt: list[tuple[FlameNode, float, float]] = []
        for node, x, w in level:
            if len(boxes) >= MAX_BOXES:
                break
            boxes.append(_box(node, x, 18 + depth * ROW, w, total, unit))
            depth_seen = depth
            cx = x
            for child in sorted(node.children.values(), key=lambda c: (-c.count, c.name)):
                cw = w * child.count / (node.count or 1)
                if cw >= MIN_W:
                    nxt.append((child, cx, cw))
                cx += cw
        level = nxt
        depth += 1
    height = 18 + (depth_seen + 1) * ROW + 4
    head = (f'<text x="0" y="13" fill="{INK}" font-weight="600">{esc(title)}</text>'
            f'<text x="{WIDTH}" y="13" text-anchor="end" fill="{MUTED}">'
            f"width = {unit}; outermost frame on top</text>")
    return (svg_open(WIDTH, height, title, "flame") + f"<title>{esc(title)}</title>" + head
            + "".join(boxes) + "</svg>")


def _box(n: FlameNode, x: float, y: float, w: float, total: int, unit: str) -> str:
    pct = 100 * n.count / total
    tip = f"{n.name}: {num(n.count)} {unit} ({pct:.1f} %)"
    label = fit(n.name, w - 6, 7.0)
    text = (f'<text x="{x + 3:.1f}" y="{y + 12:.1f}" fill="{INK}" font-size="11">'
            f"{esc(label)}</text>") if label else ""
    return (f"<g><title>{esc(tip)}</title><rect x=\"{x:.1f}\" y=\"{y:.1f}\" "
            f'width="{max(w - 0.5, 0.5):.1f}" height="{ROW - 1}" fill="{_colour(n.name)}"/>'
            f"{text}</g>")
