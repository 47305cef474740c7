"""tests/data/hostsnap-0004.db (snapshots stored by the hostsnap before issue 14,
made by make_db_0004.py), as a copy to migrate: the file itself for SQLite, its
rows on a PostgreSQL database at schema 0004."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bot.store.db import make_engine, upgrade

DB_0004 = Path(__file__).resolve().parent / "hostsnap-0004.db"
FIRST, SECOND = "rvf6sybq", "g7anqxea"


async def load_into_postgresql(url: str) -> None:
    """Schema 0004 on `url`, holding the rows of the 0004 file as the old code stored them."""
    engine = make_engine(url)
    try:
        assert (await upgrade(engine, "0004_warm_holds"))[1] == "0004_warm_holds"
        src = sa.create_engine(f"sqlite:///{DB_0004}")
        meta = sa.MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(meta.reflect)
            for table in ("snapshots", "collector_runs", "findings", "artifacts"):
                with src.connect() as s:
                    rows = [dict(r._mapping) for r in s.execute(sa.text(
                        f"SELECT * FROM {table}"))]
                t = meta.tables[table]
                for r in rows:
                    if table != "snapshots":
                        del r["id"]  # the server's sequence numbers them, as it did
                    # SQLite gives JSON and timestamps as text
                    for c in t.columns:
                        if isinstance(c.type, sa.DateTime) and isinstance(r.get(c.name), str):
                            r[c.name] = datetime.fromisoformat(r[c.name])
                        if c.name in ("summary", "warnings", "parsed", "body", "meta") and \
                                isinstance(r.get(c.name), str):
                            r[c.name] = json.loads(r[c.name])
                await conn.execute(t.insert(), rows)
        src.dispose()
    finally:
        await engine.dispose()
