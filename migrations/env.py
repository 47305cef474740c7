"""Alembic environment. hostsnap passes an open connection (attributes
["connection"]) so migrations run from an installed wheel, on SQLite and
PostgreSQL alike; replicas serialize upgrades with an advisory lock."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from bot.store.models import Base

target_metadata = Base.metadata
MIGRATION_LOCK = 7_311_402  # arbitrary, constant: pg advisory lock id


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `hostsnap db upgrade`")
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
