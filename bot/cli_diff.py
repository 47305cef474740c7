"""`hostsnap diff ID1 ID2`: what changed between two snapshots."""

from __future__ import annotations

import asyncio
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
        from bot.cli import _run, _with_store, out
        from bot.config import Settings
        from bot.diff import diff_snapshots
        from bot.render.terminal import print_diff
        from bot.render.text import json_text
        from bot.store.service import SnapshotNotFound, Store

        async def go(settings: Settings, store: Store) -> None:
            a_id, b_id = older, newer
            if b_id is None:
                prev = await store.previous_snapshot(a_id)
                if prev is None:
                    raise SnapshotNotFound(f"{a_id} has no earlier snapshot of its host "
                                           "to compare with; name two ids")
                a_id, b_id = prev, a_id
            a, b = await asyncio.gather(store.get_snapshot(a_id), store.get_snapshot(b_id))
            d = diff_snapshots(a, b)
            if as_json:
                sys.stdout.write(json_text(d.model_dump_json(indent=2)) + "\n")
            else:
                print_diff(out, d)

        _run(_with_store(config, go))
