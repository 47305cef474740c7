"""A database that is away or stalls, as the interfaces tell it: which errors
mean "unavailable" (a retry later will do, as opposed to a bug or data it
refused), and a deadline that answers on time even when the work it cuts
short takes a while to clean up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.store.db import DatabaseError

T = TypeVar("T")

#: SQLSTATE classes meaning "the database is not there" (PostgreSQL):
#: connection exception, insufficient resources, operator intervention
UNREACHABLE_SQLSTATES = ("08", "53", "57")
#: what a Slack user or a webhook sender is told
UNAVAILABLE = "database unavailable"

#: work cut short by `within`, still rolling back (kept referenced until done)
_cleaning: set[asyncio.Task[Any]] = set()


def unavailable(e: BaseException) -> bool:
    """The error says the database is away or did not answer in time."""
    if isinstance(e, (OSError, TimeoutError, PoolTimeout, DisconnectionError,
                      OperationalError, InterfaceError, DatabaseError)):
        return True
    if isinstance(e, DBAPIError):
        code = str(getattr(e.orig, "sqlstate", None) or "")
        return e.connection_invalidated or code[:2] in UNREACHABLE_SQLSTATES
    return False


async def within(seconds: float, coro: Awaitable[T]) -> T:
    """`coro`'s result, or TimeoutError after `seconds`. Cut short, the work is
    cancelled and left to unwind in the background (a rollback on a frozen
    connection waits for the driver's own timeout): the caller answers now,
    not `seconds` plus the cleanup."""
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        if task.cancelled():  # not by us: the driver's own cancellation leaked out
            # (asyncpg, on a connection that had timed out): a failed database
            # use, not a request being stopped
            raise DatabaseError("the database driver cancelled the operation")
        return task.result()
    task.cancel()
    _cleaning.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError(f"no answer within {seconds:g} s")


def _forget(task: asyncio.Task[Any]) -> None:
    _cleaning.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an error while unwinding is not "never retrieved"
