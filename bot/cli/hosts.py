"""`hostsnap hosts`: the inventory, and whether each host can be reached."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli.common import ConfigOpt, out, run
from bot.config import load_settings
from bot.inventory import Inventory
from bot.render.text import assemble, cell
from collectors.transport.base import TransportError
from collectors.transport.hostkeys import HostKeyError
from collectors.transport.ssh import AuthError, SSHSession

app = typer.Typer()


@app.command("hosts")
def hosts_(
    check: Annotated[bool, typer.Option("--check/--no-check",
                                        help="connect to each host")] = True,
    config: ConfigOpt = None,
) -> None:
    """The inventory, and whether each host is reachable with a known host key."""

    async def go() -> int:
        settings = load_settings(config)
        inv = Inventory(settings)
        from bot.watch.sessions import SessionPool

        pool = SessionPool(inv)
        names = list(inv.hosts)

        async def probe(name: str) -> tuple[Text, str | None]:
            """The check's cell (short, red when the host cannot be reached) and
            the whole message, printed below the table on one line."""
            if not check:
                return Text(), None
            h = inv.hosts[name]
            try:
                s = await asyncio.wait_for(pool.open(h), settings.ssh.connect_timeout + 2)
            except TimeoutError:
                return cell("timeout", "red"), None
            except HostKeyError as e:
                return cell("host key refused", "red"), str(e)
            except AuthError as e:
                return cell("login refused", "red"), str(e)
            except TransportError as e:
                return cell("unreachable", "red"), str(e)
            except Exception as e:  # the error is the host's (or ssh's) text
                return cell("error", "red"), str(e)
            await s.close()
            if isinstance(s, SSHSession) and s.recorded_host_key:
                return assemble(("ok", "green"), " host key recorded (first use)"), (
                    f"{name}: host key {s.recorded_host_key} of {h.address} trusted on first "
                    f"use and recorded in {s.target.known_hosts}; verify it is the host's")
            return assemble(("ok", "green"), " (local)" if h.is_local else " host key known"), None

        probed = await asyncio.gather(*(probe(n) for n in names))
        results = [r for r, _ in probed]
        t = Table("host", "address", "group", "user", "labels", *(["check"] if check else []),
                  box=None, header_style="bold")
        for n, r in zip(names, results, strict=True):
            h = inv.hosts[n]
            user = (h.entry.user or settings.ssh.user or "") if h.entry else ""
            port = f":{h.entry.port}" if h.entry and h.entry.port != 22 else ""
            t.add_row(cell(n), cell(h.address + port), cell(h.group), cell(user),
                      cell(", ".join(f"{k}={v}" for k, v in h.labels.items())),
                      *([r] if check else []))
        out.print(t)
        for _, detail in probed:
            if detail:
                out.print(cell(detail), soft_wrap=True)  # one line each, never cut
        if settings.config_path is None:
            out.print("[dim]no config file: only localhost. See README, 'Configuration'.[/dim]")
        return 1 if check and any(r.style == "red" for r in results) else 0

    raise typer.Exit(run(go()))
