"""`hostsnap web`: the pages alone, for this machine's browser (listed in
bot/cli/commands.py). Listens on 127.0.0.1 by default and prints a URL with a
one-time token: the first browser to open it gets the session, the URL is
then used up. The person at this terminal is the local operator: the rights
the CLI has (all of them), audited as `cli:<login>` through interface "web"."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import signal
import sys
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
            except Listen as e:
                raise Fail(str(e), 2) from None

        run(main())


class Listen(Exception):
    """The port cannot be listened on (the message says why and what to do)."""


def listen_error(bind: str, port: int, e: OSError) -> str:
    if e.errno == errno.EADDRINUSE:
        return (f"cannot listen on {bind}:{port}: the port is in use (another `hostsnap web`?). "
                "Stop that one, or take another port: --port 0 picks a free one.")
    if e.errno == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {bind}:{port}: {bind} is not an address of this machine "
                "(--bind takes one of its own addresses, or 0.0.0.0).")
    if e.errno == errno.EACCES:
        return (f"cannot listen on {bind}:{port}: not allowed (ports below 1024 need root); "
                f"use --port {DEFAULT_PORT} or --port 0.")
    return f"cannot listen on {bind}:{port}: {e.strerror or e}"


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
            try:
                await site.start()
            except OSError as e:  # only this: an OSError of the database is not "listen"
                raise Listen(listen_error(bind, port, e)) from None
            if not ipaddress.ip_address(bind).is_loopback:
                print(f"warning: listening on {bind}, not only this machine: anyone who "
                      "reaches the port can try the link, and it and the session cookie "
                      "cross the network unencrypted (plain http). Prefer the default "
                      "127.0.0.1 and `ssh -L`.", file=sys.stderr, flush=True)
            bound = runner.addresses[0][1] if runner.addresses else port
            login = actor().removeprefix("cli:")
            token = tokens.issue(Identity(login, "", "local"))
            shown = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
            host = f"[{shown}]" if ":" in shown else shown
            print(f"hostsnap pages: http://{host}:{bound}{path}?t={token}", flush=True)
            print("  one-time link, valid 1 h: the first browser to open it is signed in "
                  f"as {login}; Ctrl-C stops", flush=True)
            if snapshot_id:  # its dumps parsed while the browser opens: a dump's
                # explorer then opens from the kept page (as after a Slack summary)
                core.snapshots.warm_dumps(await core.snapshots.find(path.removeprefix("/s/")))
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await core.close()
