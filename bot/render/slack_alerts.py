"""What the channel reads about alerts (pure functions, like bot/render/slack).
Everything from the alert goes through `esc` (redacted, then escaped): label
values and annotations are written by whoever wrote the alert rule, must not
ping @channel, and may hold a password (`summary: login failed for
password=...`). Labels are redacted as whole `key=value` strings: the key is
what tells a secret. The fallback texts are plain (bot/slack/api.py escapes)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts.payloads import Alert
from bot.redact import redact
from bot.render.slack import Message, context, cut, esc, progress_message, section

#: labels shown in the thread; the rest is in the alert row
SHOWN_LABELS = 8


def _time(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%H:%M UTC") if dt else "?"


def _lasted(start: datetime | None, end: datetime) -> str:
    if start is None:
        return ""
    s = max(0, int((end - start).total_seconds()))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _link(url: str, label: str) -> str:
    """A Slack link only for http(s) URLs; <, > and | would break out of it.
    A token in its query string is redacted; & is escaped, as Slack asks."""
    if not url.startswith(("http://", "https://")) or any(
            c in "<>|" or c.isspace() or not c.isprintable() for c in url):
        return ""
    return f"<{redact(url).replace('&', '&amp;')}|{label}>"


def origin_line(alert: Alert) -> str:
    sev = f" · {esc(alert.severity)}" if alert.severity else ""
    name = esc(alert.alertname or "?")
    return f":rotating_light: alert *{name}*{sev} · via {esc(alert.receiver)}"


def progress(alert: Alert, host: str, states: dict[str, str], *,
             snapshot_id: str | None = None, host_state: str = "connecting") -> Message:
    """The capture's progress message, saying which alert started it."""
    msg = progress_message(host, states, snapshot_id=snapshot_id, host_state=host_state)
    return Message(msg.text, [*msg.blocks, context(origin_line(alert))])


def fired(alert: Alert, host: str, route: str) -> Message:
    """First reply in the snapshot's thread: why it was captured."""
    name = esc(alert.alertname or "?")
    lines = [f":rotating_light: *{name}* firing on *{esc(host)}* since "
             f"{_time(alert.starts_at)}" + (f" · severity {esc(alert.severity)}"
                                           if alert.severity else "")]
    if alert.summary:
        lines.append("> " + esc(cut(alert.summary, 500)).replace("\n", "\n> "))
    if alert.values:
        lines.append(f"values: `{esc(cut(alert.values, 300)).replace('`', 'ʼ')}`")
    link = _link(alert.url, "alert source")
    if link:
        lines.append(link)
    shown = [esc(f"{k}={v}").replace("`", "ʼ") for k, v in sorted(alert.labels.items())
             if k not in ("alertname", "severity")][:SHOWN_LABELS]
    blocks = [section("\n".join(lines)),
              context(f"captured by route {esc(route)} · via {esc(alert.receiver)}"
                      + (" · " + " ".join(f"`{s}`" for s in shown) if shown else ""))]
    return Message(cut(f"{alert.alertname} firing on {host}", 300), blocks)


def resolved(alert: Alert, host: str, fired_at: datetime | None, *,
             covered: bool = False) -> Message:
    end = alert.ends_at or datetime.now(UTC)
    start = fired_at or alert.starts_at
    lasted = _lasted(start, end)
    name = esc(alert.alertname or "?")
    text = (f":white_check_mark: *{name}* resolved on *{esc(host)}* at {_time(end)}"
            + (f" (firing since {_time(start)}, {lasted})" if lasted else ""))
    if covered:
        text += " — it fired while this snapshot's cooldown held"
    return Message(f"{alert.alertname} resolved on {host}", [section(text)])
