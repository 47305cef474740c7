"""`hostsnap diff ID1 ID2`: what changed between two snapshots."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def diff(
        older: Annotated[str, typer.Argument(metavar="ID1", help="snapshot id (or prefix)")],
        newer: Annotated[str | None, typer.Argument(
            metavar="ID2", help="default: the snapshot of the same host before ID1")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        config: Annotated[Path | None, typer.Option("--config", envvar="HOSTSNAP_CONFIG")] = None,
    ) -> None:
        """Threads per pool, stacks that appeared or vanished, limits, TIME_WAIT."""
        from bot.access.viewer import Viewer
        from bot.cli.common import actor, out, run, with_store
        from bot.config import Settings
        from bot.render.terminal import print_diff
        from bot.render.text import json_text
        from bot.snapshots.service import SnapshotService
        from bot.store.service import Store

        async def go(settings: Settings, store: Store) -> None:
            snapshots = SnapshotService(store)
            a_id, b_id = await snapshots.pair(older, newer)
            d = await snapshots.diff(Viewer(actor(), "cli"), a_id, b_id)
            if as_json:
                sys.stdout.write(json_text(d.model_dump_json(indent=2)) + "\n")
            else:
                print_diff(out, d)

        run(with_store(config, go))
