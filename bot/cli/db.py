"""`hostsnap db upgrade|head`: database maintenance."""

from __future__ import annotations

import typer

from bot.cli.common import ConfigOpt, out, run
from bot.config import load_settings
from bot.render.text import assemble
from bot.store.db import DatabaseError, head_revision, make_engine, upgrade

app = typer.Typer()
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Create or migrate the database schema (SQLite or PostgreSQL)."""

    async def go() -> None:
        settings = load_settings(config)
        engine = make_engine(settings.database_url)
        try:
            before, after = await upgrade(engine)
        except Exception as e:
            raise DatabaseError(f"cannot migrate: {str(e).splitlines()[0][:200]}") from e
        finally:
            await engine.dispose()
        if before == after:
            out.print(assemble(f"database is up to date (revision {after})"))
        else:
            out.print(assemble(f"database migrated: {before or 'empty'} → {after}"))

    run(go())


@db_app.command("head")
def db_head() -> None:
    """The newest schema revision this version ships."""
    out.print(head_revision() or "none")
