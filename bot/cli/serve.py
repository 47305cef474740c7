"""`hostsnap serve`: run the Slack bot (listed in bot/cli/program.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from bot.config import ConfigError, load_settings
from bot.render.text import SafeFormatter, safe_text
from bot.store.db import DatabaseError


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        mode: Annotated[str | None, typer.Option(
            "--mode", help="socket (default: no public URL needed) or http")] = None,
        host: Annotated[str | None, typer.Option(
            "--host", help="address for /slack/events (http mode), /healthz, /metrics")] = None,
        port: Annotated[int | None, typer.Option("--port", help="port of that server")] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
        config: Annotated[Path | None, typer.Option(
            "--config", envvar="HOSTSNAP_CONFIG", help="config file (TOML)")] = None,
    ) -> None:
        """Run the Slack bot: /snapshot, @hostsnap mentions and buttons."""
        from bot.slack.serve import ServeError
        from bot.slack.serve import serve as run

        handler = logging.StreamHandler()  # log lines carry alert and host text: made safe
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
        if mode not in (None, "socket", "http"):
            typer.echo(f"error: --mode is socket or http, not {mode!r}", err=True)
            raise typer.Exit(2)
        try:
            settings = load_settings(config)
        except ConfigError as e:
            typer.echo(f"error: {safe_text(e)}", err=True)
            raise typer.Exit(2) from None
        update: dict[str, object] = {}
        if mode:
            update["mode"] = mode
        if host:
            update["http_host"] = host
        if port is not None:
            update["http_port"] = port
        settings.slack = settings.slack.model_copy(update=update)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run(settings, stop)

        try:
            asyncio.run(main())
        except (ServeError, DatabaseError) as e:
            typer.echo(f"error: {safe_text(e)}", err=True)
            raise typer.Exit(2 if isinstance(e, ServeError) else 1) from None


