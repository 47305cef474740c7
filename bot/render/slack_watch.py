"""Block Kit for warm sessions (`/snapshot watch`): which hosts have an SSH
session kept open, so that a capture works once they refuse new logins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.render.slack import Message, context, cut, esc, section


def holder_text(h: str) -> str:
    """Who keeps a session open (bot/sessions.py WarmState.holders), for people."""
    if h.startswith("slack:"):
        return f"<@{esc(h.removeprefix('slack:'))}>"
    if h.startswith("alert:"):
        return "an alert"
    return {"config": "the config ([watch] hosts)",
            "watch": "`hostsnap watch`"}.get(h, esc(h))


def _line(r: Mapping[str, Any]) -> str:
    host = esc(str(r["host"]))
    if r["connected"]:
        state = f":large_green_circle: *{host}* open"
        if r.get("up_s") is not None:
            state += f" for {_dur(float(r['up_s']))}"
        if not r.get("shell"):
            state += " (no pre-started shell: files only)"
    else:
        state = f":large_orange_circle: *{host}* connecting"
        if r.get("last_error"):
            state += f" — {esc(cut(str(r['last_error']), 200))}"
    if r.get("reconnects"):
        state += f" · {r['reconnects']} reconnects"
    holders = r.get("holders") or []
    if holders:
        state += " · kept by " + ", ".join(holder_text(h) for h in holders)
    return state


def _dur(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s"


def watch_message(rows: Sequence[Mapping[str, Any]], *, title: str, note: str = "",
                  command: str = "/snapshot") -> Message:
    c = esc(command)
    if not rows:
        text = (f"No warm sessions. `{c} watch HOST...` keeps one open to hosts at risk, "
                "so a capture still works when they refuse new SSH logins.")
        return Message(text, [section(text)])
    blocks = [section(f":electric_plug: *{esc(title)}*"),
              section("\n".join(_line(r) for r in rows[:40]))]
    if len(rows) > 40:
        blocks.append(context(f"+{len(rows) - 40} more"))
    blocks.append(context(note or (
        f"A capture of these hosts goes through its warm session, even once they refuse new "
        f"SSH logins. `{c} unwatch HOST` closes one; `{c} watch` lists them.")))
    return Message(f"{title}: " + ", ".join(str(r["host"]) for r in rows[:20]), blocks)
