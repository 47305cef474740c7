"""Block Kit rendering: pure functions of stored views and findings.

Every Slack message hostsnap sends is built here from a SnapshotView (or
SnapshotSummary), so a message posted late, after a restart or an outage,
shows exactly what the store says. Slack's limits are enforced here, not
hoped for: at most 50 blocks per message, 3 000 characters per section text,
150 per header, 75 per button label. Text that leaves for Slack is redacted
(command lines in evidence tables can hold passwords).

Data is never markup: every piece of host-, alert- or user-derived text is
interpolated into mrkdwn through `esc` (redacted, then `&`, `<`, `>` escaped),
so a thread named `<!channel>` cannot ping anyone and an alert summary with a
password arrives as [REDACTED]; the markup the renderers mean (`<@U123>` of the
requester, the alert's source link) is written around it. `Message.text` (the
fallback text of notifications) is PLAIN text: bot/slack/api.py escapes and
redacts it, as it does ephemeral texts and upload comments, on the way out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.redact import redact
from bot.render.keyfacts import key_facts
from bot.render.text import safe_text
from bot.render.verdict import SAFE as SAVED
from bot.render.verdict import TRY, verdict
from bot.store.views import SnapshotSummary, SnapshotView
from collectors.analysis.diff import SnapshotDiff
from collectors.analysis.findings import (
    Block,
    CodeBlock,
    Finding,
    Severity,
    TableBlock,
    TextBlock,
    fmt_int,
)

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON = 75
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000
#: findings shown in the channel summary; the rest are in the thread
TOP_FINDINGS = 5
#: a longer details thread is replaced by a file (it would flood the thread)
MAX_DETAIL_MESSAGES = 4

ACTION_PREFIX = "hostsnap:"
DETAILS = ACTION_PREFIX + "details"
CAPTURE_AGAIN = ACTION_PREFIX + "capture_again"
COMPARE = ACTION_PREFIX + "compare"
RAW_FILES = ACTION_PREFIX + "raw_files"
#: "Open in browser": answered privately with the clicking user's own signed link
OPEN_IN_BROWSER = ACTION_PREFIX + "browser"
OPEN = ACTION_PREFIX + "open"

SEV_EMOJI = {Severity.CRITICAL: ":red_circle:", Severity.WARNING: ":large_orange_circle:",
             Severity.INFO: ":large_blue_circle:"}
STATUS_EMOJI = {
    "waiting": ":white_circle:", "connecting": ":electric_plug:", "running": ":hourglass:",
    "ok": ":white_check_mark:", "complete": ":white_check_mark:", "partial": ":warning:",
    "failed": ":x:", "timeout": ":alarm_clock:", "skipped": ":heavy_minus_sign:",
    "interrupted": ":octagonal_sign:",
}


@dataclass
class Message:
    """What chat.postMessage / chat.update take: fallback text and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


# -- primitives ----------------------------------------------------------------------
def esc(text: str) -> str:
    """Data as mrkdwn text: redacted, then Slack's control characters escaped.
    Everything user-, host- or alert-derived goes through this, so a process
    name like `<!channel>` cannot ping anyone, nor `<http://evil|click>` link.
    Redact whole `key=value` strings, not their halves (context is the key)."""
    return mrkdwn_escape(redact(text))


def mrkdwn_escape(text: str) -> str:
    """Only the escaping (for text redacted already, or fixed); control characters
    (an ESC typed into a command, a bidi override in a thread name) become visible."""
    text = safe_text(text, multiline=True)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sentence(text: str) -> str:
    """`text` ended as a sentence: an error that already ends in `?`/`.`/`!`
    ("did you mean th1?") gets no second mark."""
    return text if text.rstrip().endswith((".", "?", "!", "…")) else text + "."


def chunks(text: str, limit: int) -> list[str]:
    """Split on line boundaries into pieces of at most `limit` characters."""
    out: list[str] = []
    cur = ""
    for line in text.splitlines():
        while len(line) > limit:  # one very long line: hard split
            if cur:
                out.append(cur)
                cur = ""
            out.append(line[:limit])
            line = line[limit:]
        if cur and len(cur) + 1 + len(line) > limit:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur or not out:
        out.append(cur)
    return out


def section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    # empty evidence would be an empty text: Slack refuses the whole message
    b: dict[str, Any] = {"type": "section",
                         "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION) or "—"}}
    if accessory:
        b["accessory"] = accessory
    return b


def sections(text: str) -> list[dict[str, Any]]:
    return [section(t) for t in chunks(text, MAX_SECTION)]


def code_sections(text: str, title: str = "") -> list[dict[str, Any]]:
    """Preformatted text as one or more ``` sections, never reflowed."""
    body = esc(redact(text)).replace("```", "ʼʼʼ")
    head = f"*{esc(title)}*\n" if title else ""
    parts = chunks(body, MAX_SECTION - len(head) - 8)
    return [section(f"{head if i == 0 else ''}```{p}```") for i, p in enumerate(parts)]


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": cut(t, MAX_SECTION) or "—"}
        for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                         "text": {"type": "plain_text", "text": cut(label, MAX_BUTTON)}}
    if style:
        b["style"] = style
    return b


def paginate(blocks: Sequence[dict[str, Any]], text: str) -> list[Message]:
    """Blocks into messages of at most MAX_BLOCKS each."""
    pages = [list(blocks[i:i + MAX_BLOCKS]) for i in range(0, len(blocks), MAX_BLOCKS)]
    n = len(pages)
    return [Message(text if n == 1 else f"{text} ({i}/{n})", p)
            for i, p in enumerate(pages, 1)] or [Message(text, [section(esc(text))])]


def _when(dt: datetime) -> str:
    return f"{dt:%Y-%m-%d %H:%M:%S} UTC"


def _dur(v: SnapshotSummary) -> str:
    return f" in {v.duration_s:.2f}s" if v.duration_s is not None else ""


# -- findings --------------------------------------------------------------------------
def finding_line(f: Finding) -> str:
    return f"{SEV_EMOJI[f.severity]} *{esc(f.rule)}* {esc(redact(f.title))}"


def table_text(headers: Sequence[str], rows: Sequence[Sequence[str]],
               right: Collection[int] = ()) -> str:
    """Aligned plain-text columns (for a ``` section); `right`: numeric columns."""
    rows = [headers, *rows]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(headers))]
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=False))).rstrip()
                     for r in rows)


def _table_text(b: TableBlock) -> str:
    return table_text(b.headers, b.rows)


def evidence_blocks(b: Block) -> list[dict[str, Any]]:
    if isinstance(b, TextBlock):
        return sections(esc(redact(b.text)))
    if isinstance(b, TableBlock):
        return code_sections(_table_text(b))
    assert isinstance(b, CodeBlock)
    return code_sections(b.text, b.title)


def finding_blocks(f: Finding) -> list[dict[str, Any]]:
    head = finding_line(f)
    if f.subject:
        head += f"\n_{esc(redact(f.subject))}_"
    if f.hint:
        head += f"\n→ {esc(redact(f.hint))}"
    out = [section(head)]
    for b in f.evidence:
        out += evidence_blocks(b)
    return out


# -- capture messages ----------------------------------------------------------------
def progress_message(host: str, states: dict[str, str], *, snapshot_id: str | None = None,
                     host_state: str = "connecting", requested_by: str = "",
                     joined: bool = False, warm: bool = False) -> Message:
    """The channel message while a capture runs: one line per collector."""
    title = f"Capturing {host} — hold the restart"
    lines = [f"{STATUS_EMOJI.get(st, ':grey_question:')} {esc(name)} {esc(st)}"
             for name, st in states.items()]
    blocks = [section(f":camera_with_flash: *{esc(title)}*")]
    if joined:
        blocks.append(context(f"{esc(host)} was already being captured: this message shows "
                              "that capture's result."))
    if lines:
        blocks.append(context(" · ".join(lines)))
    else:
        blocks.append(context(f"{STATUS_EMOJI.get(host_state, ':hourglass:')} "
                              f"{esc(host_state)}"))
    meta = []
    if warm:  # the host may refuse new logins: say what this capture rides on
        meta.append(":fire: connected (warm session)")
    if snapshot_id:
        meta.append(f"snapshot `{snapshot_id}`")
    if requested_by:
        meta.append(f"requested by <@{requested_by}>")
    if meta:
        blocks.append(context(" · ".join(meta)))
    return Message(title, blocks)


def snapshot_buttons(v: SnapshotSummary, *, browser: bool = False) -> dict[str, Any]:
    """`browser`: the pages are served ([web].base_url): an Open in browser button
    (a message the whole channel sees carries no link: each click gets its own)."""
    return {"type": "actions", "block_id": f"snapshot:{v.id}", "elements": [
        button("Details", DETAILS, v.id),
        button("Capture again", CAPTURE_AGAIN, v.id),
        button("Compare with previous", COMPARE, v.id),
        button("Raw files", RAW_FILES, v.id),
        *([button("Open in browser", OPEN_IN_BROWSER, v.id)] if browser else []),
    ]}


def browser_link_text(v: SnapshotSummary, url: str, ttl_s: float) -> str:
    """The private answer to Open in browser: the clicking user's own link."""
    hours = ttl_s / 3600
    valid = f"{hours:g} h" if hours >= 1 else f"{ttl_s / 60:g} min"
    return (f"<{url}|Open snapshot {v.id} of {esc(v.host)} in your browser> — this link is "
            f"yours alone (it signs you in as you) and works for {valid}; do not share it.")


def summary_message(v: SnapshotView, *, requested_by: str = "", warm: bool = False,
                    browser: bool = False) -> Message:
    """The channel message once a capture ended (complete, partial, failed or
    interrupted): the worst findings with their numbers and the buttons
    (`browser`: with Open in browser)."""
    findings = v.finding_list
    vd = verdict(v)  # the same verdict as the terminal and web (bot/render/verdict.py)
    saved = vd.safe
    emoji = STATUS_EMOJI.get(v.status, ":grey_question:")
    head = f"{emoji} *{esc(v.host)}* — snapshot `{v.id}` · {esc(v.status)}{_dur(v)}"
    blocks: list[dict[str, Any]] = [section(head)]
    if v.status == "interrupted":
        blocks.append(section(
            f":octagonal_sign: The capture of *{esc(v.host)}* was interrupted "
            f"({esc(v.error or 'hostsnap stopped')})."))
    elif v.status == "failed":
        blocks.append(section(
            f":x: Could not capture *{esc(v.host)}*: {esc(redact(v.error or 'unknown error'))}"
            + ("\nNothing was saved." if vd.cannot_start_session else
               "\nNothing was saved — check access with `hostsnap hosts`, then capture again.")))
    facts = key_facts(v)  # always the first numbers, with or without a finding
    if facts:
        blocks.append(context(" · ".join(esc(f) for f in facts)))
    for f in findings[:TOP_FINDINGS]:
        line = finding_line(f)
        if f.hint:
            line += f"\n→ {esc(redact(f.hint))}"
        blocks.append(section(line))
    if len(findings) > TOP_FINDINGS:
        blocks.append(context(f"+{len(findings) - TOP_FINDINGS} more findings in the thread "
                              "(Details)"))
    if not findings and v.status in ("complete", "partial"):
        blocks.append(section(":large_green_circle: No findings: no ceiling near, "
                              "no OOM kill, no TIME_WAIT pile-up."))
    if vd.missing and v.status != "failed":  # failed: "Nothing was saved" says it
        blocks.append(context(":warning: missing: " + "; ".join(
            f"{esc(m.collector)} — {esc(redact(m.why))}" for m in vd.missing)))
    if saved:
        blocks.append(section(f":floppy_disk: *{SAVED}*"))
    elif v.status != "failed":  # failed says "Nothing was saved" above
        advice = vd.advice("slack")
        blocks.append(section(f":warning: *{esc(vd.headline)}*"
                              + (f"\n{TRY}" if advice else "")
                              + "".join(f"\n• {esc(a)}" for a in advice)))
    if v.status != "failed":
        blocks.append(snapshot_buttons(v, browser=browser))
    elif not vd.cannot_start_session:  # nothing saved: no details, files or comparison
        blocks.append({"type": "actions", "block_id": f"snapshot:{v.id}", "elements": [
            button("Capture again", CAPTURE_AGAIN, v.id)]})
    # a host that cannot start a session: no button can work (a new capture or a
    # watch needs a new session too); the text says what to do instead
    who = f"requested by <@{requested_by}> · " if requested_by else ""
    how = "captured through a warm session · " if warm else ""
    blocks.append(context(f"{who}{how}{_when(v.created_at)} · `/snapshot show {v.id}`"))

    top = f" — {findings[0].rule}: {redact(findings[0].title)}" if findings else ""
    text = (f"{v.host}: snapshot {v.id} {v.status}, {len(findings)} findings{top}."
            + f" {vd.headline}")
    return Message(cut(text, MAX_FALLBACK), blocks[:MAX_BLOCKS])


def failed_message(host: str, error: str, *, requested_by: str = "") -> Message:
    """A capture that never got a snapshot (it could not even start)."""
    text = f"Could not capture {host}: {redact(error)}"
    blocks = [section(f":x: {esc(text)}")]
    if requested_by:
        blocks.append(context(f"requested by <@{requested_by}>"))
    return Message(cut(text, MAX_FALLBACK), blocks)


def details_blocks(v: SnapshotView) -> list[dict[str, Any]]:
    """Everything about a snapshot, for its thread: each finding with its
    evidence, each collector with its status, the raw files."""
    out: list[dict[str, Any]] = [section(f"*Details of snapshot `{v.id}`* — {esc(v.host)}, "
                                         f"{_when(v.created_at)}, {esc(v.status)}{_dur(v)}")]
    for f in v.finding_list:
        out.append({"type": "divider"})
        out += finding_blocks(f)
    out.append({"type": "divider"})
    out += collector_blocks(v)
    return out


def collector_blocks(v: SnapshotView) -> list[dict[str, Any]]:
    lines = []
    for c in v.collectors:
        note = c.error or "; ".join(c.warnings)
        lines.append(f"{STATUS_EMOJI.get(c.status, ':grey_question:')} *{esc(c.name)}* "
                     f"{esc(c.status)} in {c.duration_s:.2f}s"
                     + (f" — {esc(redact(note))}" if note else ""))
    text = "*Collectors*\n" + ("\n".join(lines) if lines else "none ran")
    if v.artifacts:
        files = ", ".join(f"`{esc(a.name)}` ({a.size:,} B)" for a in v.artifacts)
        text += f"\n*Raw files* (the Raw files button uploads them, redacted): {files}"
    return sections(text)


def details_messages(v: SnapshotView) -> list[Message]:
    return paginate(details_blocks(v), f"Details of snapshot {v.id} ({v.host})")


def details_text(v: SnapshotView) -> str:
    """The details as a plain-text file, for when they are too long for a thread."""
    out = [f"hostsnap snapshot {v.id} — {v.host} — {_when(v.created_at)} — {v.status}{_dur(v)}",
           ""]
    for f in v.finding_list:
        out.append(f"{f.severity.value.upper()} {f.rule}  {f.title}")
        if f.subject:
            out.append(f"  subject: {f.subject}")
        if f.hint:
            out.append(f"  → {f.hint}")
        for b in f.evidence:
            if isinstance(b, TableBlock):
                out.append(_table_text(b))
            elif isinstance(b, CodeBlock):
                out += [f"--- {b.title}" if b.title else "---", b.text, "---"]
            else:
                out.append(b.text)
        out.append("")
    out.append("collectors:")
    for c in v.collectors:
        out.append(f"  {c.name}: {c.status} in {c.duration_s:.2f}s {c.error or ''}".rstrip())
    return redact("\n".join(out) + "\n")


def too_long_message(v: SnapshotView, pages: int) -> Message:
    text = (f"The details of snapshot {v.id} would take {pages} messages: they are in the "
            "file below instead.")
    return Message(text, [section(esc(text))])


# -- browsing ------------------------------------------------------------------------
def list_message(items: Iterable[SnapshotSummary], host: str | None = None,
                 hidden: int = 0) -> Message:
    """Saved snapshots, newest first, each with a button that opens it in the thread."""
    items = list(items)[: MAX_BLOCKS - 3]
    title = f"Snapshots of {host}" if host else "Latest snapshots"
    if not items:
        what = f" of {host}" if host else ""
        text = f"No snapshots{what} yet — `/snapshot {host or 'HOST'}` takes one."
        return Message(text, [section(esc(text))])
    blocks = [section(f"*{esc(title)}* (newest first)")]
    for s in items:
        counts = (f"{s.findings} findings ({s.critical} critical)" if s.findings
                  else "no findings")
        line = (f"{STATUS_EMOJI.get(s.status, '')} `{s.id}` *{esc(s.host)}* · "
                f"{_when(s.created_at)} · {esc(s.status)} · {counts}")
        if s.headline:
            line += f"\n_{esc(redact(cut(s.headline, 200)))}_"
        blocks.append(section(line, button("Open", f"{OPEN}:{s.id}", s.id)))
    if hidden:
        blocks.append(context(f"{hidden} snapshots of hosts you may not browse are not shown."))
    return Message(f"{title}: {len(items)} snapshots", blocks)


def help_text(command: str = "/snapshot") -> str:
    """Told to the one who asked (ephemeral): the channel does not need it."""
    c = command
    return (
        "*hostsnap* captures the evidence a restart destroys.\n"
        f"• `{c} HOST...` — capture now (names, `@group`, globs like `web-*`); progress here, "
        "then the findings and buttons; several hosts: one message saying which host stands "
        "out, each host's snapshot in its thread\n"
        f"• `{c} list [HOST]` — saved snapshots, newest first\n"
        f"• `{c} show ID` — one snapshot (an id prefix of 4+ characters works)\n"
        f"• `{c} diff ID1 [ID2]` — compare two snapshots (one id: with the previous)\n"
        f"• `{c} watch HOST...` — keep a session open to hosts at risk, so a capture works "
        f"once they refuse logins; `{c} watch` lists them, `{c} unwatch HOST` closes one\n"
        f"• `{c} help` — this\n"
        "In a thread, mention me with the same words: `@hostsnap show ID`."
    )


def snapshot_not_found(text: str) -> Message:
    return Message(text, [section(f":mag: {esc(text)}")])


def _signed(x: float | int | None) -> str:
    return "" if x is None else ("+" if x > 0 else "") + fmt_int(int(x))


def _num(x: float | int | None) -> str:
    return "—" if x is None else fmt_int(int(x))


def diff_message(d: SnapshotDiff) -> Message:
    """What changed between two snapshots (collectors/analysis/diff.py), as `hostsnap diff`
    shows it."""
    blocks = [section(f":left_right_arrow: *Compare* {esc(d.host_older)} `{d.older}` → "
                      f"{esc(d.host_newer)} `{d.newer}` ({d.seconds_apart:.0f}s apart)")]
    if d.notes:
        blocks.append(context(*(f":warning: {esc(n)}" for n in d.notes)))
    if d.numbers:
        rows = [[x.name, _num(x.before), _num(x.after), _signed(x.delta)] for x in d.numbers]
        blocks += code_sections(_table_text(TableBlock(
            headers=["", "before", "after", "change"], rows=rows)))
    if d.processes:
        rows = [[str(p.pid), p.name, fmt_int(p.before), fmt_int(p.after),
                 _signed(p.after - p.before)] for p in d.processes[:10]]
        blocks += code_sections(_table_text(TableBlock(
            headers=["pid", "process", "threads before", "after", "change"], rows=rows)),
            "Top processes")
    lines = [f":new: {esc(redact(f))}" for f in d.findings_new]
    lines += [f":white_check_mark: gone: {esc(redact(f))}" for f in d.findings_gone]
    if lines:
        blocks += sections("\n".join(lines))
    for dc in d.dumps:
        dd = dc.diff
        text = (f"{dc.subject}: {fmt_int(dd.total_before)} → {fmt_int(dd.total_after)} "
                f"({dd.delta:+d})\n")
        pools = [[p.name, fmt_int(p.before), fmt_int(p.after), _signed(p.delta)]
                 for p in dd.pools[:8] if p.delta]
        if pools:
            text += _table_text(TableBlock(headers=["pool / creator", "before", "after",
                                                    "change"], rows=pools)) + "\n"
        text += "".join(f"appeared: {g.after} × [{g.state}] {g.top_frame}\n"
                        for g in dd.appeared[:3])
        text += "".join(f"vanished: {g.before} × [{g.state}] {g.top_frame}\n"
                        for g in dd.vanished[:3])
        blocks += code_sections(text.rstrip())
    if not (d.numbers or d.processes or d.findings_new or d.findings_gone or d.dumps):
        blocks.append(context("No change in what the snapshots measured."))
    text = f"Compare {d.older} → {d.newer}"
    if len(blocks) > MAX_BLOCKS:  # dozens of JVMs: keep the head, say where the rest is
        blocks = [*blocks[:MAX_BLOCKS - 1], context(
            f"Cut to fit one message: `hostsnap diff {d.older} {d.newer}` shows it all.")]
    return Message(text, blocks)


def raw_files_message(v: SnapshotView, count: int, redactions: int,
                      truncated: list[str]) -> str:
    msg = f"Raw files of snapshot {v.id} ({v.host}): {count} files"
    msg += (f", {redactions} secrets redacted" if redactions
            else ", redacted (no secrets found)")
    if truncated:
        msg += f"; cut to the upload limit: {', '.join(truncated)}"
    return msg + "."
