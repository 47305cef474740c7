"""Terminal rendering (rich): pure functions of stored views and findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from bot.render.keyfacts import key_facts
from bot.render.text import assemble, cell, text
from bot.render.verdict import TRY, verdict
from collectors.analysis.findings import (
    Block,
    CodeBlock,
    Finding,
    Severity,
    TableBlock,
    TextBlock,
    sort_findings,
)

if TYPE_CHECKING:  # annotations only: `hostsnap analyze` imports this module, not them
    from bot.alerts.views import AlertView
    from bot.store.views import Reanalyzed, SnapshotSummary, SnapshotView
    from collectors.analysis.diff import SnapshotDiff
    from collectors.analysis.fleet import FleetSummary

SEV_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
STATUS_STYLE = {"complete": "green", "ok": "green", "partial": "yellow", "failed": "red",
                "timeout": "red", "interrupted": "red", "running": "cyan", "skipped": "dim"}
#: alert outcomes: captured, or why not (red: something to fix)
ALERT_STYLE = {"captured": "green", "capturing": "cyan", "covered": "dim", "resolved": "dim",
               "capture_failed": "red", "unknown_host": "red", "no_host": "red",
               "budget": "yellow", "no_route": "yellow", "ambiguous_host": "red"}


# Everything below builds Text/Table from data (bot/render/text.py): markup
# appears only in fixed literals, so no data can be read as a tag.
def _table(*headers: str, **kw: Any) -> Table:
    return Table(*(Column(header=cell(h)) for h in headers), box=None, header_style="bold",
                 **kw)


def _status(s: str, styles: dict[str, str] = STATUS_STYLE) -> Text:
    return cell(s, styles.get(s, ""))


def _block(b: Block) -> RenderableType:
    if isinstance(b, TextBlock):
        return text(b.text, multiline=True)
    if isinstance(b, TableBlock):
        t = _table(*b.headers, show_edge=False, pad_edge=False)
        for row in b.rows:
            t.add_row(*(cell(c) for c in row))
        return t
    assert isinstance(b, CodeBlock)
    return Panel(text(b.text, multiline=True), title=cell(b.title) if b.title else None,
                 title_align="left", border_style="dim")


def finding_renderable(f: Finding, *, evidence: bool = True) -> RenderableType:
    head = Text()
    head.append(f"{f.severity.value.upper():8}", style=SEV_STYLE[f.severity])
    head.append(" ")
    head.append_text(cell(f.rule, "bold"))
    head.append("  ")
    head.append_text(cell(f.title))
    parts: list[RenderableType] = [head]
    if f.hint:
        # a hanging indent: wrapped hint lines line up under the hint, not at column 0
        hint = Table.grid(padding=(0, 1))
        hint.add_column(no_wrap=True)
        hint.add_column()
        hint.add_row(Text("→", style="dim"), text(f.hint, "dim", multiline=True))
        parts.append(Padding(hint, (0, 0, 0, 9)))
    if evidence:
        for b in f.evidence:
            parts.append(Panel(_block(b), border_style="dim", padding=(0, 1), expand=False))
    return Group(*parts)


def print_findings(console: Console, findings: list[Finding], *, evidence: bool = True) -> None:
    if not findings:
        console.print("[green]no findings[/green]")
        return
    for f in sort_findings(findings):
        console.print(finding_renderable(f, evidence=evidence))


def print_snapshot(console: Console, v: SnapshotView, *, evidence: bool = True) -> None:
    dur = f" in {v.duration_s:.2f}s" if v.duration_s is not None else ""
    console.print(assemble(
        cell(v.host, "bold"), "  snapshot ", cell(v.id, "bold"), "  ", _status(v.status),
        f"{dur}  {v.created_at:%Y-%m-%d %H:%M:%S %Z}"))
    vd = verdict(v)
    for m in vd.missing if v.status != "failed" else []:  # failed: nothing saved at all
        console.print(assemble("  ", ("missing", "yellow"), " ", m.collector, " — ", m.why))
    if v.error:
        console.print(assemble("  ", cell(v.error, "red")))
    facts = key_facts(v)
    if facts:
        console.print(assemble("  ", " · ".join(facts)))
    print_findings(console, v.finding_list, evidence=evidence)
    if vd.safe:
        console.print(assemble((f"{vd.headline} `hostsnap show ", "dim"),
                               cell(v.id, "dim"), ("` for details.", "dim")))
    else:
        console.print(cell(vd.headline, "bold red" if not vd.running else "cyan"))
        if vd.advice("cli"):
            console.print(TRY)
        for a in vd.advice("cli"):
            console.print(assemble("  → ", a))


def snapshots_table(items: list[SnapshotSummary]) -> Table:
    t = _table("id", "host", "when (UTC)", "status", "trigger", "findings", "worst finding")
    for s in items:
        t.add_row(cell(s.id), cell(s.host), f"{s.created_at:%Y-%m-%d %H:%M:%S}",
                  _status(s.status), cell(s.trigger),
                  f"{s.findings} ({s.critical} critical)" if s.findings else "0",
                  cell(s.headline[:80]))
    return t


def reanalysis_line(r: Reanalyzed) -> Text:
    """`hostsnap reanalyze`: id, host, rules version old → new, +appeared/−vanished,
    the worst finding now shown."""
    if r.skipped:
        return assemble(cell(r.id), " ", cell(r.host), (" already at rules ", "dim"),
                        r.new_rules, (" (--force to run again)", "dim"))
    worst = (assemble(("  worst: ", "dim"), cell(r.worst.title[:80], SEV_STYLE[r.worst.severity]))
             if r.worst else assemble(("  no findings", "dim")))
    count = f"  {r.findings} finding{'' if r.findings == 1 else 's'}"
    return assemble(cell(r.id), " ", cell(r.host), ("  rules ", "dim"), r.old_rules, " → ",
                    r.new_rules, "  ", (f"+{len(r.appeared)}", "green"), "/",
                    (f"−{len(r.vanished)}", "red"), (count, "dim"), worst)


def alerts_table(rows: Sequence[AlertView]) -> Table:
    """`hostsnap alerts`: one line per received alert, newest first."""
    t = _table("#", "received (UTC)", "alert", "state", "host", "outcome", "snapshot", "why")
    for r in rows:
        name = r.alertname + (f" ({r.severity})" if r.severity else "")
        snap = r.snapshot_id or (f"see #{r.covered_by}" if r.covered_by else "")
        t.add_row(str(r.id), f"{r.received_at:%Y-%m-%d %H:%M:%S}", cell(name[:40]),
                  cell(r.status), cell(r.host[:40]), _status(r.outcome, ALERT_STYLE),
                  cell(snap), cell(r.detail[:100]))
    return t


def collectors_table(v: SnapshotView) -> Table:
    t = _table("collector", "status", "time", "note")
    for c in v.collectors:
        note = c.error or "; ".join(c.warnings)
        t.add_row(cell(c.name), _status(c.status), f"{c.duration_s:.2f}s", cell(note))
    return t


def artifacts_table(v: SnapshotView) -> Table:
    t = _table("raw file", "size", "stored", "sha256")
    for a in v.artifacts:
        t.add_row(cell(a.name), f"{a.size:,}", f"{a.stored_size:,}", cell(a.sha256[:16]))
    return t


def print_fleet(console: Console, fleet: FleetSummary, errors: dict[str, str | None]) -> None:
    t = _table("host", "group", "snapshot", "status", "threads", "TIME_WAIT", "mem used",
               "worst finding", title="fleet", title_justify="left")
    for r in fleet.rows:
        t.add_row(cell(r.host), cell(r.group), cell(r.snapshot_id), _status(r.status),
                  "" if r.threads is None else f"{r.threads:,}",
                  "" if r.time_wait is None else f"{r.time_wait:,}",
                  "" if r.mem_used_pct is None else f"{r.mem_used_pct:.0f}%",
                  cell(r.headline[:70]))
    for host, e in errors.items():
        t.add_row(cell(host), "", "", cell("failed", "red"), "", "", "", cell((e or "")[:70]))
    console.print(t)
    if fleet.standouts:
        console.print("[bold]stands out:[/bold]")
        for s in fleet.standouts:
            console.print(assemble("  • ", s.text))
    else:
        console.print("[dim]no host stands out from its group[/dim]")


def print_diff(console: Console, d: SnapshotDiff) -> None:
    from collectors.analysis.findings import fmt_int

    def n(x: float | int | None) -> str:
        return "—" if x is None else fmt_int(int(x))

    console.print(assemble(cell(d.host_older, "bold"), " ", d.older, " → ",
                           cell(d.host_newer, "bold"), " ", d.newer,
                           f"  ({d.seconds_apart:.0f}s apart)"))
    for note in d.notes:
        console.print(assemble("  ", cell(note, "yellow")))
    if d.numbers:
        t = _table("", "before", "after", "change")
        for x in d.numbers:
            delta = x.delta
            t.add_row(cell(x.name), n(x.before), n(x.after),
                      "" if delta is None else f"{'+' if delta > 0 else ''}{fmt_int(int(delta))}")
        console.print(t)
    if d.processes:
        t = _table("pid", "process", "threads before", "after", "change",
                   title="top processes", title_justify="left")
        for p in d.processes[:10]:
            t.add_row(str(p.pid), cell(p.name), fmt_int(p.before), fmt_int(p.after),
                      f"{p.after - p.before:+d}")
        console.print(t)
    for f in d.findings_new:
        console.print(assemble("  ", ("new", "red"), "   ", f))
    for f in d.findings_gone:
        console.print(assemble("  ", ("gone", "green"), "  ", f))
    for dc in d.dumps:
        dd = dc.diff
        console.print(assemble(cell(dc.subject, "bold"), f": {fmt_int(dd.total_before)} → "
                               f"{fmt_int(dd.total_after)} ({dd.delta:+d})"))
        t = _table("pool / creator", "before", "after", "change")
        for pool in dd.pools[:8]:
            if pool.delta:
                t.add_row(cell(pool.name), fmt_int(pool.before), fmt_int(pool.after),
                          f"{pool.delta:+d}")
        if t.row_count:
            console.print(t)
        for g in dd.appeared[:3]:
            console.print(assemble(f"  appeared: {g.after} × [", g.state, "] ", g.top_frame))
        for g in dd.vanished[:3]:
            console.print(assemble(f"  vanished: {g.before} × [", g.state, "] ", g.top_frame))
    if not (d.numbers or d.processes or d.findings_new or d.findings_gone or d.dumps):
        console.print("[dim]no change in what the snapshots measured[/dim]")


def runtime_tables(v: SnapshotView) -> list[Table]:
    """What the runtime collectors saw: each JVM dump with the way it was taken
    and why, and the containers with their limits."""
    from collectors.analysis.containers import ContainersSummary
    from collectors.analysis.findings import fmt_int
    from collectors.analysis.results import JvmResult
    from collectors.analysis.stored import result

    tables: list[Table] = []
    jvm = result(v, "jvm", JvmResult)
    if jvm and jvm.jvms:
        t = _table("pid", "user", "threads", "JDK", "dumps: how", "why (first dump)",
                   title="JVMs", title_justify="left")
        for j in jvm.jvms:
            how = (cell(", ".join(d.method for d in j.dumps)) if j.dumps
                   else cell(j.error or "", "red"))
            t.add_row(cell(j.pid), cell(j.user), fmt_int(j.threads), cell(j.jdk or ""), how,
                      cell(j.dumps[0].why if j.dumps else ""))
        tables.append(t)
    docker = result(v, "docker", ContainersSummary)
    if docker and docker.containers:
        t = _table("container", "state", "memory / limit", "pids / limit", "restarts",
                   title="containers", title_justify="left")

        def mb(x: int | None) -> str:
            return "none" if x is None else f"{x / 2**20:.0f} MiB"

        for c in docker.containers:
            t.add_row(cell(c.name), cell(c.state),
                      f"{mb(c.memory_usage)} / {mb(c.memory_limit)}",
                      cell(f"{c.pids_current or '?'} / {c.pids_limit or 'none'}"),
                      cell(c.restart_count))
        tables.append(t)
    return tables
