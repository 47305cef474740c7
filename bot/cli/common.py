"""What every `hostsnap` command shares: consoles, options, and one way to
fail (one clear line, exit 1 when a host could not be captured, 2 for bad
input/config)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from bot.app import open_store
from bot.config import ConfigError, Settings, load_settings
from bot.inventory import InventoryError
from bot.render.text import assemble
from bot.store.db import DatabaseError
from bot.store.faults import from_database, unavailable
from bot.store.service import SnapshotNotFound, Store

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line
T = TypeVar("T")

ConfigOpt = Annotated[Path | None, typer.Option("--config", envvar="HOSTSNAP_CONFIG",
                                                help="config file (TOML)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class Fail(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except Fail as e:
        error(str(e))
        raise typer.Exit(e.code) from None
    except (ConfigError, InventoryError) as e:
        error(str(e))
        raise typer.Exit(2) from None
    except SnapshotNotFound as e:  # an id that names no snapshot is bad input
        error(e.args[0] if e.args else str(e))
        raise typer.Exit(2) from None
    except DatabaseError as e:
        error(str(e))
        raise typer.Exit(1) from None
    except Exception as e:  # away or stalled mid-command (open() said it answered)
        if not (unavailable(e) and from_database(e)):
            raise
        why = str(getattr(e, "orig", None) or e).strip().splitlines()
        if isinstance(e, TimeoutError) or not why:
            why = ["no answer within database_timeout"]
        error(f"database unavailable: {why[0][:200]}")
        raise typer.Exit(1) from None


def error(message: str) -> None:
    """One error line; the message is data (host errors, ids typed by the user)."""
    err.print(assemble(("error:", "red"), " ", message), highlight=False)


async def open_settings_store(config: Path | None) -> tuple[Settings, Store]:
    settings = load_settings(config)
    return settings, await open_store(settings)


async def with_store(config: Path | None, fn: Callable[[Settings, Store], Awaitable[T]]) -> T:
    settings, store = await open_settings_store(config)
    try:
        return await fn(settings, store)
    finally:
        await store.close()


def actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
