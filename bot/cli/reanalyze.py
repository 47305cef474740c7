"""`hostsnap reanalyze ID… [--since DURATION|DATE] [--host H]`: today's rules
over stored snapshots (the use case is bot/snapshots/reanalysis.py)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """`30d`, `12h`, `90m`... ago, or a date / ISO time (UTC when it names no zone)."""
    m = re.fullmatch(r"(\d{1,6})([smhdw])", text.strip())
    if m:
        return now - timedelta(**{_UNITS[m[2]]: int(m[1])})
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (30d, 12h, 90m) nor a date (2026-12-01)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    @app.command()
    def reanalyze(
        ids: Annotated[list[str] | None, typer.Argument(
            metavar="ID…", help="snapshot ids (or prefixes)", show_default=False)] = None,
        since: Annotated[str | None, typer.Option(
            "--since", metavar="DURATION|DATE",
            help="also every snapshot taken since then (30d, 12h, 2026-12-01)")] = None,
        host: Annotated[str | None, typer.Option("--host", help="only this host's")] = None,
        force: Annotated[bool, typer.Option(
            "--force", help="also snapshots already analysed by today's rules")] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        config: Annotated[Path | None, typer.Option("--config", envvar="HOSTSNAP_CONFIG")] = None,
    ) -> None:
        """Run today's rules over stored snapshots; the new findings are kept beside the old."""
        from bot.access.viewer import Viewer
        from bot.cli.common import Fail, actor, out, run, with_store
        from bot.config import Settings
        from bot.render.terminal import reanalysis_line
        from bot.render.text import json_dumps
        from bot.snapshots.reanalysis import Reanalysis
        from bot.store.service import Store

        start = parse_since(since, datetime.now(UTC)) if since else None
        if not ids and start is None and not host:
            raise typer.BadParameter("name snapshot ids, or --since / --host")

        async def go(settings: Settings, store: Store) -> None:
            service = Reanalysis(store, settings.thresholds)
            chosen = await service.select(ids or [], since=start, host=host)
            if host:  # ids named explicitly must be of that host too
                chosen = [i for i in chosen if (await store.get_snapshot(i)).host == host]
            if not chosen:
                raise Fail("no snapshot matches", 1)
            viewer = Viewer(actor(), "cli")
            results = []
            for sid in chosen:
                r = await service.run(viewer, sid, force=force)
                results.append(r)
                if not as_json:
                    out.print(reanalysis_line(r), soft_wrap=True)  # one line each
            if as_json:
                sys.stdout.write(json_dumps([r.model_dump(mode="json") for r in results],
                                            indent=2) + "\n")

        run(with_store(config, go))
