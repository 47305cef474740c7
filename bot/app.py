"""The composition root: settings -> store, inventory, session pool and the
domain services, built once per process and on first use (a CLI command
builds only what it needs). `serve`, `watch` and the CLI commands get their
services here; the interfaces (bot/cli*, bot/slack, bot/web) only adapt."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import text

from bot.config import Settings
from bot.store.service import Store

if TYPE_CHECKING:
    from bot.access.journal import Journal
    from bot.alerts.history import AlertHistory
    from bot.capture.jobs import JobKeeper
    from bot.capture.service import CaptureService
    from bot.inventory import Inventory
    from bot.snapshots.service import SnapshotService
    from bot.watch.holds import WarmHolds
    from bot.watch.service import WatchService
    from bot.watch.sessions import SessionPool


async def open_store(settings: Settings) -> Store:
    return await Store.open(settings.database_url, timeout=settings.database_timeout)


async def ping(store: Store) -> None:
    """The database answers (health checks); raises when it does not."""
    async with store.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class App:
    """One process's services over one store."""

    def __init__(self, settings: Settings, store: Store, *, serving: bool = False) -> None:
        """`serving`: `hostsnap serve` (captures share the event loop with
        Slack and alert intake, so their SSH handshakes are paced)."""
        self.settings = settings
        self.store = store
        self.serving = serving

    @classmethod
    async def open(cls, settings: Settings) -> App:
        return cls(settings, await open_store(settings))

    async def close(self) -> None:
        if "snapshots" in self.__dict__:
            await self.snapshots.dumps.close()  # the explorer's worker process
        if "pool" in self.__dict__:
            await self.pool.close()
        await self.store.close()

    @cached_property
    def inventory(self) -> Inventory:
        from bot.inventory import Inventory

        return Inventory(self.settings)

    @cached_property
    def pool(self) -> SessionPool:
        from bot.watch.sessions import SessionPool

        return SessionPool(self.inventory, serving=self.serving)

    @cached_property
    def captures(self) -> CaptureService:
        from bot.capture.service import CaptureService

        return CaptureService(self.settings, self.store, self.inventory, self.pool)

    @cached_property
    def snapshots(self) -> SnapshotService:
        from bot.snapshots.service import SnapshotService

        return SnapshotService(self.store)

    @cached_property
    def journal(self) -> Journal:
        from bot.access.journal import Journal

        return Journal(self.store)

    @cached_property
    def holds(self) -> WarmHolds:
        """Warm holds shared by every replica (`/snapshot watch`, alerts)."""
        from bot.watch.holds import WarmHolds

        return WarmHolds(self.store, self.pool, self.inventory,
                         self.settings.watch.sync_interval)

    @cached_property
    def watches(self) -> WatchService:
        from bot.watch.service import WatchService

        return WatchService(self.holds)

    @cached_property
    def alert_history(self) -> AlertHistory:
        from bot.alerts.history import AlertHistory

        return AlertHistory(self.store, self.inventory)

    @cached_property
    def job_keeper(self) -> JobKeeper:
        """Captures go through the job table shared with the other replicas
        (`serve`), whose leases this keeps; alerts of a dead replica's
        captures are released."""
        from bot.alerts.recovery import release_interrupted
        from bot.capture.jobs import CaptureJobs, JobKeeper

        keeper = JobKeeper(CaptureJobs(self.store))
        self.captures.jobs = keeper.jobs
        keeper.on_interrupted.append(release_interrupted(self.store, self.settings.alerts))
        return keeper
