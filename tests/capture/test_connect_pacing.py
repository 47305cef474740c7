"""A fleet's captures set up their SSH connections a few at a time (issue 17):
20 handshakes at once held the bot's event loop for the fleet's first second,
and webhooks waited 0.2 s+ behind them. capture.connect_concurrency bounds
them; the rest queue and all still complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from collectors import offload
from tests.integration.helpers import service_for


async def _fleet(lab, tmp_path: Path, prefix: str, slots: int) -> tuple[list[str], int]:
    """Capture 6 lab hosts at once with `slots` connect slots: (statuses, most
    handshakes in progress at once)."""
    tmp_path.mkdir()
    hosts = [lab.add_host(f"{prefix}-{i}") for i in range(6)]
    extra = f'[capture]\ncollectors = ["limits"]\nconnect_concurrency = {slots}\n'
    _, store, svc = await service_for(tmp_path, hosts, extra=extra)
    try:
        outs = await svc.capture_many(svc.inventory.resolve([h.name for h in hosts]))
        statuses = [o.snapshot.status if o.snapshot else f"failed: {o.error}" for o in outs]
        return statuses, svc.pool.max_handshakes
    finally:
        await store.close()
        for h in hosts:
            lab.remove_host(h)


@pytest.mark.root
async def test_at_most_connect_concurrency_handshakes_at_once(lab, tmp_path: Path) -> None:
    statuses, most = await _fleet(lab, tmp_path / "paced", "pace", 2)
    assert statuses == ["complete"] * 6
    assert most == 2  # the bound, reached: 6 captures started together


@pytest.mark.root
async def test_without_the_bound_they_all_knock_at_once(lab, tmp_path: Path) -> None:
    # what the bound prevents (and what shows the count above is real)
    statuses, most = await _fleet(lab, tmp_path / "free", "free", 6)
    assert statuses == ["complete"] * 6
    assert most > 2


def test_capture_settings_are_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[capture]\nconnect_concurency = 2\n")
    with pytest.raises(ConfigError, match=r"did you mean `connect_concurrency`"):
        load_settings(cfg)
    cfg.write_text("[capture]\nconnect_concurrency = 0\n")
    with pytest.raises(ConfigError, match="connect_concurrency"):
        load_settings(cfg)
    cfg.write_text("[capture]\nworkers = -1\n")
    with pytest.raises(ConfigError, match="workers"):
        load_settings(cfg)
    cfg.write_text("[capture]\nworkers = 0\n")
    s = load_settings(cfg)
    assert (s.capture.connect_concurrency, s.capture.workers) == (None, 0)


def test_handshakes_are_paced_where_the_bot_serves_not_on_the_command_line(
        tmp_path: Path) -> None:
    from bot.app import App
    from bot.watch.sessions import SERVE_CONNECT_SLOTS

    cfg = tmp_path / "hostsnap.toml"
    cfg.write_text("[capture]\nconcurrency = 30\n")
    s = load_settings(cfg)
    # the pool needs no store: None stands for it
    assert App(s, None, serving=True).pool.connect_slots == SERVE_CONNECT_SLOTS  # type: ignore[arg-type]
    assert App(s, None).pool.connect_slots == 30  # type: ignore[arg-type]
    cfg.write_text("[capture]\nconnect_concurrency = 5\n")  # said: everywhere
    s = load_settings(cfg)
    assert App(s, None, serving=True).pool.connect_slots == 5  # type: ignore[arg-type]


def test_capture_workers_setting_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(offload.WORKERS_ENV, raising=False)
    assert offload.default_workers(3) == 3
    assert offload.default_workers(0) == 0  # threads
    assert offload.default_workers(None) >= 1  # one per CPU
    monkeypatch.setenv(offload.WORKERS_ENV, "1")
    assert offload.default_workers(3) == 1  # the environment wins
