"""Data on a terminal: shown as text, never as markup or control sequences.

Thread names, alert names, host errors and dump lines are written by whoever
controls the host or the alert rule. Rich would read `[/x]` in them as a
closing tag (and crash), `[bold]` as a style (and drop it), `:smile:` as an
emoji; the terminal would obey an ESC or OSC sequence (clear the screen, set
the title, rewrite what was printed before). So data reaches Rich only as
`rich.text.Text` built by `text()` / `cell()` below — Text is never parsed for
markup — after `safe_text` has made every control character visible.

What is kept: printable characters, and in multi-line text (evidence, dumps)
newline and tab. Everything else in C0 (U+0000–U+001F), DEL and C1
(U+0080–U+009F) becomes a visible escape like `\\x1b`, `\\r`, `\\x9b`; so do
the bidi overrides/isolates and zero-width space (`\\u202e`), which would let
data reorder or hide what the operator reads.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from rich.text import Text

# C0, DEL, C1; and the invisible ones that reorder or hide what is shown
# (bidi overrides and isolates, marks, zero-width space/no-break, BOM)
_INVISIBLE = "\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE}]")
_CONTROL_MULTILINE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def safe_text(s: object, *, multiline: bool = False) -> str:
    """`s` as a string with every control character replaced by a visible
    escape; with `multiline`, newlines and tabs stay (evidence, dump lines)."""
    return (_CONTROL_MULTILINE if multiline else _CONTROL).sub(_visible, str(s))


def text(s: object, style: str = "", *, multiline: bool = False) -> Text:
    """Data as a Rich Text: no markup, no emoji codes, no control characters."""
    t = Text(safe_text(s, multiline=multiline), style=style)
    if multiline:  # now, not at render time: Rich measures a tab as 0 columns and wraps
        t.expand_tabs(8)
    return t


def cell(s: object, style: str = "") -> Text:
    """One table cell or one-line field."""
    return text(s, style)


def assemble(*parts: str | Text | tuple[str, str]) -> Text:
    """A line of fixed literals and data: plain `str` parts are DATA (made
    safe); a (literal, style) tuple is a styled fixed literal; Text is kept."""
    out = Text()
    for p in parts:
        if isinstance(p, Text):
            out.append_text(p)
        elif isinstance(p, tuple):
            out.append(p[0], style=p[1])
        else:
            out.append(safe_text(p))
    return out


class SafeFormatter(logging.Formatter):
    """Log lines name alerts, hosts and errors (data) and go to a terminal or
    journald: each record's message stays on one line (a newline in data
    cannot forge the next record) with control characters visible; a
    traceback keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return safe_text(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return safe_text(super().formatException(ei), multiline=True)

    def formatStack(self, stack_info: str) -> str:
        return safe_text(super().formatStack(stack_info), multiline=True)


_C1 = re.compile(r"[\x7f-\x9f]")


def json_dumps(doc: Any, **kw: Any) -> str:
    """JSON for stdout: json escapes C0 itself; C1 and DEL (possible only
    inside strings) become \\u escapes too, so a terminal never sees them."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(doc, **kw))


def json_text(dumped: str) -> str:
    """The same for JSON already serialized (pydantic's model_dump_json)."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
