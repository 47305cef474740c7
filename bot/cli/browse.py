"""`hostsnap list` and `hostsnap show`: stored snapshots (views audited by
the snapshots service, like every interface's)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bot.access.viewer import Viewer
from bot.cli.common import ConfigOpt, JsonOpt, actor, out, run, with_store
from bot.config import Settings
from bot.render.terminal import (
    artifacts_table,
    collectors_table,
    print_snapshot,
    runtime_tables,
    snapshots_table,
)
from bot.render.text import assemble, cell, json_dumps, json_text, safe_text
from bot.snapshots.service import SnapshotService
from bot.store.service import Store

app = typer.Typer()


@app.command("list")
def list_(
    host: Annotated[str | None, typer.Argument(help="only this host")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Saved snapshots, newest first."""

    async def go(settings: Settings, store: Store) -> None:
        items = await SnapshotService(store).list(host, limit)
        if as_json:
            sys.stdout.write(json_dumps([i.model_dump(mode="json") for i in items], indent=2)
                             + "\n")
        elif not items:
            out.print(assemble(f"no snapshots{' of ' + host if host else ''} yet — "
                               "take one with `hostsnap snapshot HOST`"))
        else:
            out.print(snapshots_table(items))

    run(with_store(config, go))


@app.command()
def show(
    snapshot_id: Annotated[str, typer.Argument(metavar="ID", help="snapshot id or prefix")],
    raw: Annotated[str | None, typer.Option("--raw", help="print this raw file")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """One snapshot: findings, collectors, raw files (--raw NAME prints one)."""

    async def go(settings: Settings, store: Store) -> None:
        snapshots, viewer = SnapshotService(store), Viewer(actor(), "cli")
        if raw:  # this machine's own terminal: as stored (audited like any view)
            data = (await snapshots.raw(viewer, snapshot_id, raw, redact=False)).data
            if sys.stdout.isatty():  # a terminal obeys escape sequences: show them instead
                data = safe_text(data.decode(errors="replace"), multiline=True).encode()
            sys.stdout.buffer.write(data)  # piped or redirected: the bytes as stored
            sys.stdout.flush()
            return
        v = await snapshots.show(viewer, snapshot_id)
        if as_json:
            sys.stdout.write(json_text(v.model_dump_json(indent=2)) + "\n")
            return
        print_snapshot(out, v)
        for table in runtime_tables(v):
            out.print()
            out.print(table)
        out.print()
        out.print(collectors_table(v))
        if v.artifacts:
            out.print()
            out.print(artifacts_table(v))
            out.print(assemble(("`hostsnap show ", "dim"), cell(v.id, "dim"),
                               ("` --raw NAME prints a raw file", "dim")))

    run(with_store(config, go))
