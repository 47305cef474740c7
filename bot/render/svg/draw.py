"""Small pieces shared by the drawings: escaping, numbers, colours.

Every text that goes into an SVG (a thread name, a frame, a host) is data:
it passes through `esc` (element text) or `attr` (a quoted attribute), never
straight into the markup. Colours are presentation attributes, not `style=`
(the pages' Content-Security-Policy has no 'unsafe-inline')."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

#: state / status -> fill colour (colour-blind-safe-ish, and readable as text)
STATE_COLOURS = {
    "RUNNABLE": "#4c9a2a", "running": "#4c9a2a",
    "BLOCKED": "#c0392b", "semacquire": "#c0392b", "sync.Mutex.Lock": "#c0392b",
    "sync.RWMutex.Lock": "#c0392b", "sync.RWMutex.RLock": "#c0392b",
    "WAITING": "#2e6da4", "TIMED_WAITING": "#7aa6d6", "chan receive": "#2e6da4",
    "chan send": "#2e6da4", "select": "#7aa6d6", "IO wait": "#8e7cc3",
}
GROWTH = "#c0392b"  # more than before
SHRINK = "#4c9a2a"  # fewer than before
NEUTRAL = "#8a94a6"
ACCENT = "#2e6da4"
INK = "#1f2933"
MUTED = "#6b7280"
FONT = 'font-family="system-ui, sans-serif"'


def esc(text: object) -> str:
    return escape(str(text))


def attr(text: object) -> str:
    """A quoted attribute value, quotes included."""
    return quoteattr(str(text))


def num(x: float | int | None) -> str:
    """12345 -> "12 345" (the project's thousands separator); 1.25 -> "1.2"."""
    if x is None:
        return "–"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.1f}".replace(",", " ")
    return f"{int(x):,}".replace(",", " ")


def fit(text: str, width: float, char: float = 6.6) -> str:
    """The text cut to what fits in `width` pixels (about `char` px a character)."""
    n = int(width // char)
    if n <= 1:
        return ""
    return text if len(text) <= n else text[: n - 1] + "…"


def svg_open(width: float, height: float, label: str, cls: str = "") -> str:
    c = f" class={attr(cls)}" if cls else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label={attr(label)}'
            f'{c} {FONT} font-size="12">')
