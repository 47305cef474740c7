"""Block Kit for a capture of several hosts: one message in the channel that
follows every host's capture, then says which hosts stand out (collectors/analysis/fleet.py).
Each host's own summary, with its buttons, is in that message's thread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from bot.redact import redact
from bot.render.slack import (
    MAX_BLOCKS,
    MAX_FALLBACK,
    STATUS_EMOJI,
    Message,
    code_sections,
    context,
    cut,
    esc,
    section,
    table_text,
)
from collectors.analysis.findings import fmt_int
from collectors.analysis.fleet import MIN_GROUP, FleetSummary

#: hosts named one by one in the progress message; the rest are counted
PROGRESS_HOSTS = 40


def fleet_title(n: int, label: str) -> str:
    return f"{n} hosts ({label})"


def fleet_progress_message(label: str, states: Mapping[str, str], *,
                           requested_by: str = "", interrupted: bool = False) -> Message:
    """While the captures run: one line with every host's state."""
    title = (f"Capture of {fleet_title(len(states), label)} interrupted: hostsnap stopped"
             if interrupted else
             f"Capturing {fleet_title(len(states), label)} — hold the restarts")
    items = list(states.items())
    shown = " · ".join(f"{STATUS_EMOJI.get(st, ':grey_question:')} {esc(h)}"
                       for h, st in items[:PROGRESS_HOSTS])
    if len(items) > PROGRESS_HOSTS:
        shown += f" · +{len(items) - PROGRESS_HOSTS} more"
    done = sum(st not in ("waiting", "connecting", "running") for st in states.values())
    blocks = [section(f":camera_with_flash: *{esc(title)}*"), context(shown),
              context(f"{done} of {len(states)} done · each host's snapshot goes in the "
                      "thread" + (f" · requested by <@{requested_by}>" if requested_by else ""))]
    return Message(title, blocks)


def _table(fleet: FleetSummary, errors: Mapping[str, str | None]) -> str:
    rows = []
    for r in fleet.rows:
        why = errors.get(r.host) if r.status not in ("complete", "partial") else None
        rows.append((r.host, r.status,
                     "" if r.threads is None else fmt_int(r.threads),
                     "" if r.time_wait is None else fmt_int(r.time_wait),
                     "" if r.mem_used_pct is None else f"{r.mem_used_pct:.0f}%",
                     r.snapshot_id, cut(why or r.headline, 80) or "—"))
    stored = {r.host for r in fleet.rows}
    for host, e in errors.items():
        if host not in stored:  # no snapshot at all
            rows.append((host, "failed", "", "", "", "", cut(e or "unknown error", 80)))
    return table_text(("host", "status", "threads", "TIME_WAIT", "mem", "snapshot",
                       "worst finding"), rows, right={2, 3, 4})


def fleet_message(label: str, fleet: FleetSummary, errors: Mapping[str, str | None], *,
                  requested_by: str = "", command: str = "/snapshot") -> Message:
    """Once every host is done: who stands out, then the table of all hosts."""
    n = len(fleet.rows) + len(set(errors) - {r.host for r in fleet.rows})
    saved = [r for r in fleet.rows if r.status in ("complete", "partial")]
    failed = n - len(saved)
    head = (f":bar_chart: *{esc(fleet_title(n, label))}* — {len(saved)} saved"
            + (f", {failed} not" if failed else ""))
    blocks = [section(head)]
    if fleet.standouts:
        lines = "\n".join(f"• {esc(redact(s.text))}" for s in fleet.standouts[:20])
        more = len(fleet.standouts) - 20
        blocks.append(section(":mag: *Stands out from its group*\n" + lines
                              + (f"\n+{more} more" if more > 0 else "")))
    elif max(Counter(r.group for r in saved).values(), default=0) >= MIN_GROUP:
        blocks.append(section(":large_green_circle: No host stands out from its group "
                              "(threads, TIME_WAIT, memory, processes, versions)."))
    else:
        blocks.append(context(f"Too few hosts to say which stands out ({MIN_GROUP} or more "
                              "of one group are compared)."))
    blocks += code_sections(_table(fleet, errors))
    if saved:
        blocks.append(section(f":floppy_disk: *Evidence saved for {len(saved)} of {n} hosts "
                              "— safe to restart those.* Each host's snapshot, with its "
                              "buttons, is in the thread."))
    who = f"requested by <@{requested_by}> · " if requested_by else ""
    blocks.append(context(f"{who}`{esc(command)} diff ID1 ID2` compares two of them"))
    odd = ", ".join(dict.fromkeys(s.host for s in fleet.standouts))
    text = (f"{fleet_title(n, label)}: {len(saved)} saved"
            + (f", {failed} not" if failed else "")
            + (f"; stands out: {odd}" if odd else "") + ".")
    return Message(cut(text, MAX_FALLBACK), blocks[:MAX_BLOCKS])
