"""`hostsnap snapshot HOST…`: capture now, with live progress per host and
collector; hosts kept warm by a running `hostsnap watch` are captured through it."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.app import App
from bot.capture.progress import CaptureOutcome, ProgressEvent
from bot.cli.common import ConfigOpt, Fail, JsonOpt, actor, err, error, out, run, with_store
from bot.config import Settings
from bot.render.terminal import STATUS_STYLE, print_fleet, print_snapshot
from bot.render.text import cell, json_dumps
from bot.store.service import Store
from bot.watch import daemon as watchd
from collectors import registry

if TYPE_CHECKING:  # the rest is imported where used: a one-host capture needs none of it
    from bot.capture.service import CaptureService
    from bot.inventory import InventoryHost

app = typer.Typer()


class ProgressView:
    """Live per-host, per-collector progress on the terminal."""

    def __init__(self, hosts: list[str], collectors: list[str]) -> None:
        self.collectors = collectors
        self.rows: dict[str, dict[str, str]] = {h: {"host": "waiting"} for h in hosts}

    async def __call__(self, ev: ProgressEvent) -> None:
        row = self.rows.setdefault(ev.host, {})
        if ev.collector is None:
            row["host"] = ev.status + (" (warm)" if ev.warm else "")
            row["id"] = ev.snapshot_id
        else:
            row[ev.collector] = ev.status

    def __rich__(self) -> Table:
        t = Table("host", "snapshot", "state", *self.collectors, box=None, header_style="bold")
        for host, row in self.rows.items():
            cells = []
            for c in self.collectors:
                st = row.get(c, "·")
                cells.append(cell(st, STATUS_STYLE.get(st, "")))
            t.add_row(cell(host), cell(row.get("id", "")), cell(row.get("host", "")), *cells)
        return t


@app.command()
def snapshot(
    hosts: Annotated[list[str], typer.Argument(help="names, @group or globs ('web-*')")],
    collectors: Annotated[str | None, typer.Option(
        "--collectors", "-c", help="comma-separated collectors (default: all defaults)")] = None,
    concurrency: Annotated[int | None, typer.Option(help="hosts captured at once")] = None,
    deadline: Annotated[float | None, typer.Option(help="overall deadline, seconds")] = None,
    brief: Annotated[bool, typer.Option("--brief", help="findings without evidence")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Capture HOST(s) now: progress per collector, then the findings."""
    names = [c.strip() for c in collectors.split(",")] if collectors else None

    async def go(settings: Settings, store: Store) -> int:
        services = App(settings, store)  # built on use: inventory, pool, capture
        targets = services.inventory.resolve(hosts)
        try:
            cols = [c.name for c in registry.resolve(names or settings.capture.collectors)]
        except ValueError as e:
            raise Fail(str(e), 2) from e
        svc = services.captures
        view = ProgressView([h.name for h in targets], cols)
        live = not as_json and err.is_terminal
        kw: dict[str, Any] = dict(collectors=names, on_progress=view, concurrency=concurrency,
                                  deadline_s=deadline, actor=actor())
        if live:
            from rich.live import Live

            with Live(view, console=err, refresh_per_second=12, transient=True):
                outcomes = await _capture(svc, store, targets, kw)
        else:
            outcomes = await _capture(svc, store, targets, kw)
        _report(outcomes, as_json, brief)
        return 0 if all(o.snapshot for o in outcomes) else 1

    code = run(with_store(config, go))
    raise typer.Exit(code)


async def _capture(svc: CaptureService, store: Store, targets: list[InventoryHost],
                   kw: dict[str, Any]) -> list[CaptureOutcome]:
    """Hosts kept warm by a running `hostsnap watch` are captured through it:
    its sessions still work when the host can no longer fork a login."""
    status = await watchd.request({"op": "status"}, timeout=5)
    warm = {h["host"] for h in (status or {}).get("hosts", []) if h.get("connected")}
    via_watch = [h for h in targets if h.name in warm]
    direct = [h for h in targets if h.name not in warm]
    outcomes: dict[str, CaptureOutcome] = {}

    async def through_watch() -> list[InventoryHost]:
        """Hosts left to capture directly (all of them if the watch went away)."""
        progress = kw.get("on_progress")

        async def on_event(fields: dict[str, Any]) -> None:
            if progress is not None:
                await progress(ProgressEvent(**fields))

        doc = await watchd.request(
            {"op": "capture", "hosts": [h.name for h in via_watch],
             "collectors": kw.get("collectors"), "actor": kw.get("actor", "")},
            on_event=on_event)
        if doc is None or "error" in doc:
            return via_watch
        from bot.snapshots.service import SnapshotService

        for o in doc["outcomes"]:
            view = await SnapshotService(store).find(o["snapshot_id"]) \
                if o["snapshot_id"] else None
            outcomes[o["host"]] = CaptureOutcome(o["host"], view, o["error"], o["joined"])
        return []

    async def directly(hosts: list[InventoryHost]) -> None:
        for o in await svc.capture_many(hosts, **kw):
            outcomes[o.host] = o

    # both at once: the warm hosts are the ones in trouble, the rest must not wait
    left, _ = await asyncio.gather(through_watch() if via_watch else asyncio.sleep(0, []),
                                   directly(direct) if direct else asyncio.sleep(0))
    if left:
        await directly(left)
    return [outcomes[h.name] for h in targets]


def _report(outcomes: list[CaptureOutcome], as_json: bool, brief: bool) -> None:
    views = [o.snapshot for o in outcomes if o.snapshot]
    fleet = None
    if len(outcomes) > 1:
        from collectors.analysis.fleet import summarize

        fleet = summarize(views)
    if as_json:
        doc: dict[str, Any] = {
            "snapshots": [v.model_dump(mode="json") for v in views],
            "errors": [{"host": o.host, "error": o.error} for o in outcomes if o.error],
        }
        if fleet is not None:
            doc["fleet"] = fleet.model_dump(mode="json")
        sys.stdout.write(json_dumps(doc, indent=2) + "\n")
        return
    for v in views:
        print_snapshot(out, v, evidence=not brief and len(outcomes) == 1)
        out.print()
    if fleet is not None:
        print_fleet(out, fleet, errors={o.host: o.error for o in outcomes if o.error})
    for o in outcomes:
        if o.error:
            error(o.error)
