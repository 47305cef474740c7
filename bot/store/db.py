"""Engine and schema: SQLite in the user's data dir by default (created and
migrated on first use), PostgreSQL via HOSTSNAP_DATABASE_URL."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from platformdirs import user_data_dir
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

#: the newest migration this code ships. Checked against Alembic by a test; it
#: lets every CLI start skip importing Alembic (~0.3 s) when nothing is to do.
SCHEMA_HEAD = "0009_dump_views"


class DatabaseError(Exception):
    """The database cannot be used; the message is for users."""


def default_database_url() -> str:
    path = Path(user_data_dir("hostsnap")) / "hostsnap.db"
    return f"sqlite+aiosqlite:///{path}"


def normalize_url(url: str) -> str:
    """Accept the URLs people paste: postgres://, postgresql:// and sqlite:///."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


#: seconds any one database use may take (connect, statement, pool checkout,
#: a locked SQLite): a database that stalls is an error, never a hang
DEFAULT_TIMEOUT_S = 5.0


def make_engine(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> AsyncEngine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": timeout},
                                     pool_timeout=timeout)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # asyncpg: `timeout` bounds connecting, `command_timeout` every statement
    # (the pre-ping's too); a connection whose statement timed out is
    # invalidated, so a frozen one is not handed out again
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=timeout,
        connect_args={"timeout": timeout, "command_timeout": timeout})


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("bot.migrations")))
    return cfg


def _upgrade(conn: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _downgrade(conn: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, revision)


def _current(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def is_current(engine: AsyncEngine) -> bool:
    """True when the schema is at SCHEMA_HEAD, without importing Alembic."""
    try:
        async with engine.connect() as conn:
            rev = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except (OperationalError, ProgrammingError) as e:
        if "alembic_version" in str(e):
            return False  # a new, empty database
        raise
    except DBAPIError:
        raise
    return rev == SCHEMA_HEAD


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate; returns (revision before, revision after)."""
    async with engine.begin() as conn:
        before = await conn.run_sync(_current)
        await conn.run_sync(_upgrade, revision)
        after = await conn.run_sync(_current)
    return before, after


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
