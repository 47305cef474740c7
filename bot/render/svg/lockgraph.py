"""Who holds, who waits: the locks threads queue for, drawn as rows of
waiters -> lock -> holder; when a holder itself waits for another drawn
lock, an arrow goes there, and a cycle of them (a deadlock) is drawn red."""

from __future__ import annotations

from bot.render.dumpview import LockNode
from bot.render.svg.draw import GROWTH, INK, MUTED, NEUTRAL, attr, esc, fit, num, svg_open

WIDTH = 900
WAITER_W = 250
LOCK_X, LOCK_W = 330, 230
OWNER_X, OWNER_W = 640, 250
BOX_H = 22
GAP = 6
MAX_WAITER_BOXES = 4


def lock_graph(nodes: list[LockNode], title: str, *, unit: str = "threads") -> str:
    if not nodes:
        return ""
    rows: list[tuple[LockNode, float, float]] = []  # node, top y, height
    y = 24.0
    for n in nodes:
        boxes = min(len(n.by_pool), MAX_WAITER_BOXES) + (len(n.by_pool) > MAX_WAITER_BOXES)
        height = float(max(1, boxes) * (BOX_H + GAP) + 10)
        rows.append((n, y, height))
        y += height + 8
    where = {n.address: (top, h) for n, top, h in rows}
    out = [svg_open(WIDTH, y + 24, title, "lockgraph"), f"<title>{esc(title)}</title>",
           '<defs><marker id="lg-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           f'<path d="M0 0 L10 5 L0 10 z" fill="{INK}"/></marker>'
           '<marker id="lg-arrow-red" viewBox="0 0 10 10" refX="9" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           f'<path d="M0 0 L10 5 L0 10 z" fill="{GROWTH}"/></marker></defs>',
           f'<text x="0" y="14" fill="{MUTED}">waiting {esc(unit)}</text>'
           f'<text x="{LOCK_X}" y="14" fill="{MUTED}">lock</text>'
           f'<text x="{OWNER_X}" y="14" fill="{MUTED}">held by</text>']
    for n, top, h in rows:
        out.append(_row(n, top, h))
    for n, top, h in rows:  # a holder that waits for another drawn lock
        if n.owner_waits_for in where:
            t_top, t_h = where[n.owner_waits_for]
            red = n.deadlocked
            # from the holder's box, under the arrows, to the lock it waits for
            x1, y1 = OWNER_X + 18, top + h / 2 + BOX_H / 2
            x2 = LOCK_X + LOCK_W - 18
            below = t_top > top
            y2 = t_top + t_h / 2 + (-BOX_H / 2 if below else BOX_H / 2)
            bend = (y1 + y2) / 2 if below else max(y1, y2) + 26
            out.append(f'<path d="M{x1:.0f} {y1:.0f} C{x1:.0f} {bend:.0f} {x2:.0f} {bend:.0f} '
                       f'{x2:.0f} {y2:.0f}" fill="none" stroke="{GROWTH if red else INK}" '
                       f'stroke-width="1.5" stroke-dasharray="5 3" '
                       f'marker-end="url(#{"lg-arrow-red" if red else "lg-arrow"})">'
                       f"<title>{esc(n.owner or '')} waits for {esc(n.owner_waits_for)}"
                       f"</title></path>")
    out.append("</svg>")
    return "".join(out)


def _row(n: LockNode, top: float, h: float) -> str:
    red = n.deadlocked
    stroke = GROWTH if red else INK
    mid = top + h / 2
    parts = []
    shown = n.by_pool[:MAX_WAITER_BOXES]
    rest = n.by_pool[MAX_WAITER_BOXES:]
    items = [(f"{num(c)} × {p}", f"{c} waiting: {p}") for p, c in shown]
    if rest:
        k = sum(c for _, c in rest)
        items.append((f"{num(k)} more in {len(rest)} other groups", f"{k} more"))
    for i, (text, tip) in enumerate(items):
        by = top + 5 + i * (BOX_H + GAP)
        parts.append(f"<g><title>{esc(tip)}</title><rect x=\"0\" y=\"{by:.0f}\" "
                     f'width="{WAITER_W}" height="{BOX_H}" rx="3" fill="#fdecea" '
                     f'stroke="{NEUTRAL}"/><text x="6" y="{by + 15:.0f}" fill="{INK}">'
                     f"{esc(fit(text, WAITER_W - 10))}</text></g>")
        parts.append(f'<path d="M{WAITER_W} {by + BOX_H / 2:.0f} L{LOCK_X - 2} {mid:.0f}" '
                     f'stroke="{NEUTRAL}" fill="none" marker-end="url(#lg-arrow)"/>')
    lock_text = f"<{n.address}> {n.class_name.rsplit('.', 1)[-1]}"
    lock_tip = (f"{n.class_name} <{n.address}>: {n.waiters} waiting"
                + (" — DEADLOCK: its holder waits, through other holders, for it"
                   if red else ""))
    parts.append(f"<g><title>{esc(lock_tip)}</title><rect x=\"{LOCK_X}\" "
                 f'y="{mid - BOX_H / 2:.0f}" width="{LOCK_W}" height="{BOX_H}" rx="3" '
                 f'fill="{"#f9d6d2" if red else "#fff4d6"}" stroke="{stroke}" '
                 f'stroke-width="{2 if red else 1}"/><text x="{LOCK_X + 6}" y="{mid + 4:.0f}" '
                 f'fill="{INK}">{esc(fit(lock_text, LOCK_W - 10))}</text></g>')
    owner = (f"{n.owner} ({n.owner_state})" if n.owner else
             "holder not in the dump" if n.class_name != "sync.Mutex" else
             "holder not recorded (Go)")
    dash = "" if n.owner else ' stroke-dasharray="4 3"'
    parts.append(f'<path d="M{LOCK_X + LOCK_W} {mid:.0f} L{OWNER_X - 2} {mid:.0f}" '
                 f'stroke="{stroke}" fill="none" marker-end="url(#lg-arrow)"{dash}/>')
    parts.append(f"<g><title>{esc(owner)}</title><rect x=\"{OWNER_X}\" "
                 f'y="{mid - BOX_H / 2:.0f}" width="{OWNER_W}" height="{BOX_H}" rx="3" '
                 f'fill="#eef3fb" stroke="{stroke}"{dash}/><text x="{OWNER_X + 6}" '
                 f'y="{mid + 4:.0f}" fill="{INK}">{esc(fit(owner, OWNER_W - 10))}</text></g>')
    return f"<g data-lock={attr(n.address)}>" + "".join(parts) + "</g>"
