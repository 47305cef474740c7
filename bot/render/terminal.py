"""Terminal rendering (rich): pure functions of stored views and findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.diff import SnapshotDiff
from bot.fleet import FleetSummary
from bot.store.views import SnapshotSummary, SnapshotView
from collectors.analysis.findings import (
    Block,
    CodeBlock,
    Finding,
    Severity,
    TableBlock,
    TextBlock,
    sort_findings,
)

if TYPE_CHECKING:
    from bot.store.models import AlertRow

SEV_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
STATUS_STYLE = {"complete": "green", "ok": "green", "partial": "yellow", "failed": "red",
                "timeout": "red", "interrupted": "red", "running": "cyan", "skipped": "dim"}
#: alert outcomes: captured, or why not (red: something to fix)
ALERT_STYLE = {"captured": "green", "capturing": "cyan", "covered": "dim", "resolved": "dim",
               "capture_failed": "red", "unknown_host": "red", "no_host": "red",
               "budget": "yellow", "no_route": "yellow", "ambiguous_host": "red"}


def _block(b: Block) -> RenderableType:
    if isinstance(b, TextBlock):
        return Text(b.text)
    if isinstance(b, TableBlock):
        t = Table(*b.headers, show_edge=False, pad_edge=False, box=None, header_style="bold")
        for row in b.rows:
            t.add_row(*row)
        return t
    assert isinstance(b, CodeBlock)
    return Panel(Text(b.text), title=b.title or None, title_align="left", border_style="dim")


def finding_renderable(f: Finding, *, evidence: bool = True) -> RenderableType:
    head = Text()
    head.append(f"{f.severity.value.upper():8}", style=SEV_STYLE[f.severity])
    head.append(f" {f.rule}", style="bold")
    head.append(f"  {f.title}")
    parts: list[RenderableType] = [head]
    if f.hint:
        parts.append(Text(f"         → {f.hint}", style="dim"))
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
    style = STATUS_STYLE.get(v.status, "")
    dur = f" in {v.duration_s:.2f}s" if v.duration_s is not None else ""
    console.print(
        f"[bold]{v.host}[/bold]  snapshot [bold]{v.id}[/bold]  "
        f"[{style}]{v.status}[/{style}]{dur}  {v.created_at:%Y-%m-%d %H:%M:%S %Z}"
    )
    for c in v.missing:
        console.print(f"  [yellow]missing[/yellow] {c.name}: {c.status} — {c.error or ''}")
    if v.error:
        console.print(f"  [red]{v.error}[/red]")
    print_findings(console, v.finding_list, evidence=evidence)
    if v.status in ("complete", "partial"):
        console.print("[dim]Evidence saved — safe to restart. "
                      f"`hostsnap show {v.id}` for details.[/dim]")


def snapshots_table(items: list[SnapshotSummary]) -> Table:
    t = Table("id", "host", "when (UTC)", "status", "trigger", "findings", "worst finding",
              box=None, header_style="bold")
    for s in items:
        style = STATUS_STYLE.get(s.status, "")
        t.add_row(s.id, s.host, f"{s.created_at:%Y-%m-%d %H:%M:%S}",
                  f"[{style}]{s.status}[/{style}]", s.trigger,
                  f"{s.findings} ({s.critical} critical)" if s.findings else "0",
                  s.headline[:80])
    return t


def alerts_table(rows: Sequence[AlertRow]) -> Table:
    """`hostsnap alerts`: one line per received alert, newest first."""
    t = Table("#", "received (UTC)", "alert", "state", "host", "outcome", "snapshot", "why",
              box=None, header_style="bold")
    for r in rows:
        style = ALERT_STYLE.get(r.outcome, "")
        name = r.alertname + (f" ({r.severity})" if r.severity else "")
        snap = r.snapshot_id or (f"see #{r.covered_by}" if r.covered_by else "")
        t.add_row(str(r.id), f"{r.received_at:%Y-%m-%d %H:%M:%S}", name[:40], r.status,
                  r.host[:40], f"[{style}]{r.outcome}[/{style}]" if style else r.outcome,
                  snap, r.detail[:100])
    return t


def collectors_table(v: SnapshotView) -> Table:
    t = Table("collector", "status", "time", "note", box=None, header_style="bold")
    for c in v.collectors:
        style = STATUS_STYLE.get(c.status, "")
        note = c.error or "; ".join(c.warnings)
        t.add_row(c.name, f"[{style}]{c.status}[/{style}]", f"{c.duration_s:.2f}s", note)
    return t


def artifacts_table(v: SnapshotView) -> Table:
    t = Table("raw file", "size", "stored", "sha256", box=None, header_style="bold")
    for a in v.artifacts:
        t.add_row(a.name, f"{a.size:,}", f"{a.stored_size:,}", a.sha256[:16])
    return t


def print_fleet(console: Console, fleet: FleetSummary, errors: dict[str, str | None]) -> None:
    t = Table("host", "group", "snapshot", "status", "threads", "TIME_WAIT", "mem used",
              "worst finding", box=None, header_style="bold", title="fleet", title_justify="left")
    for r in fleet.rows:
        style = STATUS_STYLE.get(r.status, "")
        t.add_row(r.host, r.group, r.snapshot_id, f"[{style}]{r.status}[/{style}]",
                  "" if r.threads is None else f"{r.threads:,}",
                  "" if r.time_wait is None else f"{r.time_wait:,}",
                  "" if r.mem_used_pct is None else f"{r.mem_used_pct:.0f}%",
                  r.headline[:70])
    for host, e in errors.items():
        t.add_row(host, "", "", "[red]failed[/red]", "", "", "", (e or "")[:70])
    console.print(t)
    if fleet.standouts:
        console.print("[bold]stands out:[/bold]")
        for s in fleet.standouts:
            console.print(f"  • {s.text}")
    else:
        console.print("[dim]no host stands out from its group[/dim]")


def print_diff(console: Console, d: SnapshotDiff) -> None:
    from collectors.analysis.findings import fmt_int

    def n(x: float | int | None) -> str:
        return "—" if x is None else fmt_int(int(x))

    console.print(f"[bold]{d.host_older}[/bold] {d.older} → [bold]{d.host_newer}[/bold] "
                  f"{d.newer}  ({d.seconds_apart:.0f}s apart)")
    for note in d.notes:
        console.print(f"  [yellow]{note}[/yellow]")
    if d.numbers:
        t = Table("", "before", "after", "change", box=None, header_style="bold")
        for x in d.numbers:
            delta = x.delta
            t.add_row(x.name, n(x.before), n(x.after),
                      "" if delta is None else f"{'+' if delta > 0 else ''}{fmt_int(int(delta))}")
        console.print(t)
    if d.processes:
        t = Table("pid", "process", "threads before", "after", "change", box=None,
                  header_style="bold", title="top processes", title_justify="left")
        for p in d.processes[:10]:
            t.add_row(str(p.pid), p.name, fmt_int(p.before), fmt_int(p.after),
                      f"{p.after - p.before:+d}")
        console.print(t)
    for f in d.findings_new:
        console.print(f"  [red]new[/red]   {f}")
    for f in d.findings_gone:
        console.print(f"  [green]gone[/green]  {f}")
    for dc in d.dumps:
        dd = dc.diff
        console.print(f"[bold]{dc.subject}[/bold]: {fmt_int(dd.total_before)} → "
                      f"{fmt_int(dd.total_after)} ({dd.delta:+d})")
        t = Table("pool / creator", "before", "after", "change", box=None, header_style="bold")
        for pool in dd.pools[:8]:
            if pool.delta:
                t.add_row(pool.name, fmt_int(pool.before), fmt_int(pool.after),
                          f"{pool.delta:+d}")
        if t.row_count:
            console.print(t)
        for g in dd.appeared[:3]:
            console.print(f"  appeared: {g.after} × [{g.state}] {g.top_frame}")
        for g in dd.vanished[:3]:
            console.print(f"  vanished: {g.before} × [{g.state}] {g.top_frame}")
    if not (d.numbers or d.processes or d.findings_new or d.findings_gone or d.dumps):
        console.print("[dim]no change in what the snapshots measured[/dim]")


def runtime_tables(v: SnapshotView) -> list[Table]:
    """What the runtime collectors saw: each JVM dump with the way it was taken
    and why, and the containers with their limits."""
    from collectors.analysis.findings import fmt_int

    tables: list[Table] = []
    jvms = (v.parsed.get("jvm") or {}).get("jvms") or []
    if jvms:
        t = Table("pid", "user", "threads", "JDK", "dumps: how", "why (first dump)", box=None,
                  header_style="bold", title="JVMs", title_justify="left")
        for j in jvms:
            dumps = j.get("dumps") or []
            how = ", ".join(d["method"] for d in dumps) or f"[red]{j.get('error', '')}[/red]"
            t.add_row(str(j["pid"]), j.get("user", ""), fmt_int(j.get("threads", 0)),
                      j.get("jdk", ""), how, dumps[0]["why"] if dumps else "")
        tables.append(t)
    containers = (v.parsed.get("docker") or {}).get("containers") or []
    if containers:
        t = Table("container", "state", "memory / limit", "pids / limit", "restarts", box=None,
                  header_style="bold", title="containers", title_justify="left")

        def mb(x: int | None) -> str:
            return "none" if x is None else f"{x / 2**20:.0f} MiB"

        for c in containers:
            t.add_row(c["name"], c.get("state", ""),
                      f"{mb(c.get('memory_usage'))} / {mb(c.get('memory_limit'))}",
                      f"{c.get('pids_current') or '?'} / {c.get('pids_limit') or 'none'}",
                      str(c.get("restart_count", 0)))
        tables.append(t)
    return tables
