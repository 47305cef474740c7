"""`hostsnap watch`: keep warm sessions to hosts at risk."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from bot.app import App
from bot.config import load_settings
from bot.inventory import Inventory, InventoryError
from bot.render.text import assemble, cell
from bot.watch.daemon import WatchServer, request

out = Console()


def _table(rows: list[dict[str, object]]) -> Table:
    t = Table(box=None, header_style="bold", title="warm sessions", title_justify="left")
    # host names whole, whatever the terminal's width: they are what one types next
    t.add_column("host", no_wrap=True, min_width=max((len(str(r["host"])) for r in rows),
                                                     default=4))
    for name in ("session", "shell", "up", "reconnects", "kept by", "last error"):
        t.add_column(name)
    for r in rows:
        holders = r.get("holders")
        t.add_row(cell(r["host"]), cell("open", "green") if r["connected"] else
                  cell("connecting", "yellow"), "yes" if r["shell"] else "no",
                  cell(f"{r['up_s']}s" if r["up_s"] is not None else ""),
                  cell(r["reconnects"]),
                  cell(", ".join(map(str, holders)) if isinstance(holders, list) else ""),
                  cell(r["last_error"] or ""))
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def watch(
        hosts: Annotated[list[str] | None, typer.Argument(
            help="hosts at risk: names, @group, globs (default: [watch] hosts)")] = None,
        status: Annotated[bool, typer.Option("--status",
                                             help="show a running watch's sessions")] = False,
        config: Annotated[Path | None, typer.Option("--config", envvar="HOSTSNAP_CONFIG")] = None,
    ) -> None:
        """Keep SSH sessions open to hosts at risk, for captures once they refuse logins.

        Other hostsnap commands on this machine capture through these sessions
        while this runs; without HOSTS, the config's [watch] hosts."""
        if status:
            doc = asyncio.run(request({"op": "status"}, timeout=5))
            if doc is None:
                out.print("no `hostsnap watch` is running")
                raise typer.Exit(1)
            out.print(_table(doc.get("hosts", [])))
            return
        try:
            asyncio.run(_watch(hosts or [], config))
        except InventoryError as e:
            Console(stderr=True, soft_wrap=True).print(assemble(("error:", "red"), f" {e}"))
            raise typer.Exit(2) from None
        except RuntimeError as e:
            Console(stderr=True, soft_wrap=True).print(assemble(("error:", "red"), f" {e}"))
            raise typer.Exit(1) from None


async def _watch(targets: list[str], config: Path | None) -> None:
    settings = load_settings(config)
    targets = targets or settings.watch.hosts
    if not targets:
        raise InventoryError("name the hosts to keep warm (or list them in [watch] hosts)")
    inv = Inventory(settings)
    hosts = [h for h in inv.resolve(targets) if not h.is_local]
    app = await App.open(settings)
    app.inventory = inv
    server = WatchServer(app.captures)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        problem = app.watches.keep_local(hosts, holder="watch")
        if problem:
            raise RuntimeError(problem)
        with Live(_table(server.status()), console=out, refresh_per_second=2,
                  auto_refresh=out.is_terminal) as live:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)
                live.update(_table(server.status()))
    finally:
        await server.close()
        await app.close()  # the warm sessions, then the store
