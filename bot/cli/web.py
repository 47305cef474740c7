"""`hostsnap web`: the pages alone, for this machine's browser (listed in
bot/cli/commands.py). Listens on 127.0.0.1 by default and prints a URL with a
one-time token: the first browser to open it gets the session, the URL is
then used up. The person at this terminal is the local operator: the rights
the CLI has (all of them), audited as `cli:<login>` through interface "web"."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from pathlib import Path
from typing import Annotated

import typer

#: a fixed default port, so an `ssh -L 8417:127.0.0.1:8417` tunnel can be set up once
DEFAULT_PORT = 8417
#: how long the printed link may wait for its browser
ONE_TIME_TTL_S = 3600.0


def register(app: typer.Typer) -> None:
    @app.command()
    def web(
        snapshot_id: Annotated[str | None, typer.Argument(
            metavar="[ID]", help="open this snapshot's page (default: the list)")] = None,
        bind: Annotated[str, typer.Option(
            "--bind", help="address to listen on (others than 127.0.0.1 reach the pages "
                           "too, still only with the printed link)")] = "127.0.0.1",
        port: Annotated[int, typer.Option(
            "--port", help="port to listen on (0: any free one)")] = DEFAULT_PORT,
        config: Annotated[Path | None, typer.Option(
            "--config", envvar="HOSTSNAP_CONFIG", help="config file (TOML)")] = None,
    ) -> None:
        """Serve the pages (snapshots, dumps, compare) to this machine's browser."""
        from bot.cli.common import Fail, run

        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise typer.BadParameter(f"{bind!r} is not an IP address", param_hint="--bind") \
                from None
        if not 0 <= port <= 65535:
            raise typer.BadParameter("a port is 0..65535", param_hint="--port")

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            try:
                await serve(config, snapshot_id, bind, port, stop)
            except OSError as e:
                raise Fail(f"cannot listen on {bind}:{port}: {e.strerror}", 2) from None

        run(main())


async def serve(config: Path | None, snapshot_id: str | None, bind: str, port: int,
                stop: asyncio.Event) -> None:
    from aiohttp import web

    from bot.access.links import Identity, OneTimeTokens
    from bot.app import App
    from bot.cli.common import actor, open_settings_store
    from bot.web.pages import attach_pages

    settings, store = await open_settings_store(config)
    core = App(settings, store)
    try:
        path = "/"
        if snapshot_id:  # a typo is told here, not as a 404 in the browser
            path = f"/s/{await store.resolve_id(snapshot_id)}"
        tokens = OneTimeTokens(ttl=ONE_TIME_TTL_S)
        app = web.Application()
        # served at its own address over http, whatever [web].base_url says (a
        # Secure cookie would not come back over http)
        attach_pages(app, core, settings.web.model_copy(update={"base_url": None}),
                     onetime=tokens)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, bind, port)
            await site.start()
            bound = runner.addresses[0][1] if runner.addresses else port
            login = actor().removeprefix("cli:")
            token = tokens.issue(Identity(login, "", "local"))
            shown = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
            host = f"[{shown}]" if ":" in shown else shown
            print(f"hostsnap pages: http://{host}:{bound}{path}?t={token}", flush=True)
            print("  one-time link, valid 1 h: the first browser to open it is signed in "
                  f"as {login}; Ctrl-C stops", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await core.close()
