"""Alerts whose capture died with its bot replica (bot/capture/jobs.py swept
its job): captured again on their next repeat, after retry_failed_after, as
after any failed capture."""

from __future__ import annotations

import logging

from bot.alerts.ledger import Ledger
from bot.capture.jobs import DEAD_OWNER, Interrupted, OnInterrupted
from bot.settings.alerts import AlertSettings
from bot.store.service import Store

log = logging.getLogger(__name__)


def release_interrupted(store: Store, settings: AlertSettings) -> OnInterrupted:
    """A JobKeeper listener: the alerts left `capturing` by those jobs."""
    ledger = Ledger(store)
    hold = min(settings.retry_failed_after, settings.cooldown)

    async def release(gone: list[Interrupted]) -> None:
        n = await ledger.interrupted([g.snapshot_id for g in gone], hold,
                                     f"interrupted: {DEAD_OWNER}")
        if n:
            log.warning("%d alert%s left capturing by a stopped replica: captured again on "
                        "the next repeat", n, "s" if n != 1 else "")

    return release
