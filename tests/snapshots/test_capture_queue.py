"""A capture's deadline starts when it does, not when it was queued (issue 16):
with concurrency 1, queued captures ended "partial: ... overall deadline
reached after 0.2 s". The queue has its own bound, and says so."""

from __future__ import annotations

import re

import pytest

from bot.config import CaptureSettings
from collectors import registry
from tests.integration.helpers import service_for
from tests.slack.slowbot import SlowCollector

pytestmark = pytest.mark.root


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "1.0")


async def test_queued_captures_get_their_whole_deadline(lab, tmp_path, slow) -> None:
    hosts = [lab.add_host(f"queue-{i}") for i in range(3)]
    settings, store, svc = await service_for(tmp_path, hosts)
    settings.capture = CaptureSettings(collectors=["limits", "slow"], concurrency=1,
                                       deadline=3.0, queue_timeout=30.0)
    try:
        outs = await svc.capture_many(svc.inventory.resolve([h.name for h in hosts]))
        # one at a time, ~1.2 s each: the third waited ~2.5 s, more than 3 - 1.2
        for o in outs:
            assert o.snapshot is not None, o.error
            assert o.snapshot.status == "complete", [
                (c.name, c.status, c.error) for c in o.snapshot.collectors]
    finally:
        await store.close()
        for h in hosts:
            lab.remove_host(h)


async def test_the_queue_has_its_own_bound_and_says_so(lab, tmp_path, slow) -> None:
    hosts = [lab.add_host(f"qbound-{i}") for i in range(3)]
    settings, store, svc = await service_for(tmp_path, hosts)
    settings.capture = CaptureSettings(collectors=["limits", "slow"], concurrency=1,
                                       deadline=30.0, queue_timeout=0.5)
    try:
        outs = await svc.capture_many(svc.inventory.resolve([h.name for h in hosts]))
        first, *queued = outs
        assert first.snapshot is not None and first.snapshot.status == "complete"
        errors = sorted(o.error or "" for o in queued)
        assert all(o.snapshot is None for o in queued)
        assert re.search(r"qbound-1: not started: 1 capture ahead, waited 0\.[56] s for a slot "
                         r"\(capture\.concurrency 1, capture\.queue_timeout 0\.5 s\)",
                         errors[0]), errors
        assert "not started: 2 captures ahead" in errors[1], errors
    finally:
        await store.close()
        for h in hosts:
            lab.remove_host(h)
