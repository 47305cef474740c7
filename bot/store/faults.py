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
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.store.db import DatabaseError

T = TypeVar("T")

#: SQLSTATE classes meaning "the database is not there" (PostgreSQL):
#: connection exception, insufficient resources, operator intervention
UNREACHABLE_SQLSTATES = ("08", "53", "57")

#: the modules a database error is raised from
DRIVERS = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3")
#: a request's deadline is the database timeout plus this: the driver's own
#: timeout (asyncpg's command timeout, SQLite's busy timeout) fires first and
#: rolls back cleanly; the deadline is the backstop for a pool checkout and a
#: sequence of slow statements. (Cancelled mid-statement, an aiosqlite
#: connection can be dropped without its rollback, its write lock held.)
GRACE_S = 1.0

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


def from_database(e: BaseException) -> bool:
    """Raised by the database stack: asyncpg's statement timeout is a bare
    TimeoutError, which alone could come from anywhere (SSH)."""
    if isinstance(e, (SQLAlchemyError, DatabaseError)):
        return True
    tb = e.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] in DRIVERS:
            return True
        tb = tb.tb_next
    return False


def request_deadline(database_timeout: float) -> float:
    """Seconds a request's database work may take in all."""
    return database_timeout + GRACE_S


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
        if task.cancelled():  # not by us: work it shared was cut short (alert
            # intake's group commit and in-flight recordings cancel their
            # waiters when the request running them hits its deadline): a
            # failed database use to retry, not a request being stopped
            raise DatabaseError("a database operation it waited for was cut short")
        return task.result()
    task.cancel()
    _cleaning.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError(f"no answer within {seconds:g} s")


def _forget(task: asyncio.Task[Any]) -> None:
    _cleaning.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an error while unwinding is not "never retrieved"


def first_line(e: BaseException) -> str:
    """The driver's own message, first line: without SQLAlchemy's SQL and
    background link, fit for a one-line error."""
    msg = str(getattr(e, "orig", None) or e).strip().splitlines()
    return msg[0][:200] if msg else type(e).__name__
