"""`hostsnap alerts`: the alerts hostsnap received and what it did about each
— the first place to look when an alert did not bring a snapshot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def alerts(
        host: Annotated[str | None, typer.Option("--host", help="only alerts for this host")]
        = None,
        outcome: Annotated[str | None, typer.Option(
            "--outcome", help="only this outcome (captured, covered, budget, no_route, "
                              "unknown_host, capture_failed, ...)")] = None,
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000)] = 30,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        config: Annotated[Path | None, typer.Option("--config", envvar="HOSTSNAP_CONFIG")] = None,
    ) -> None:
        """Received alerts, newest first: host, outcome, snapshot and why."""
        from bot.access.viewer import Viewer
        from bot.alerts.history import AlertHistory
        from bot.cli.common import actor, out, run, with_store
        from bot.config import Settings
        from bot.inventory import Inventory
        from bot.render.terminal import alerts_table
        from bot.render.text import assemble, json_dumps
        from bot.store.service import Store

        async def go(settings: Settings, store: Store) -> None:
            history = AlertHistory(store, Inventory(settings))
            rows = (await history.recent(Viewer(actor(), "cli"), limit, host=host,
                                         outcome=outcome)).rows
            if as_json:
                sys.stdout.write(json_dumps([r.json() for r in rows], indent=2) + "\n")
            elif not rows:
                what = " ".join(x for x in (host and f"for {host}", outcome and
                                            f"with outcome {outcome}") if x)
                out.print(assemble(f"no alerts {what} received yet".replace("  ", " ")
                                   + " — see `[alerts]` in the README to send them"))
            else:
                out.print(alerts_table(rows))

        run(with_store(config, go))
