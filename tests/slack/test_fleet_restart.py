"""A fleet table that Slack could not take survives the bot: kept in the
database (slack_fleet_posts), posted once Slack is back by whichever
`hostsnap serve` is alive, and the hosts' summaries that waited for it go
into its thread. Real `hostsnap serve` processes, one killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.slack import posts as posts_module
from bot.slack.posts import AWAITING, DONE, PENDING, RUNNING, Posts
from bot.store.models import FleetPostRow, SlackPostRow
from bot.store.service import Store
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.serveproc import stop_process
from tests.slack.conftest import summary_of
from tests.slack.test_cli_serve import free_port

HOSTS = ["localhost", "dead-01", "dead-02"]
LABEL = " ".join(HOSTS)


def write_config(tmp_path: Path, fake: FakeSlack, db_url: str) -> Path:
    # the dead hosts fail at once (no known_hosts file: refused before connecting)
    dead = "\n".join(
        f'[[hosts]]\nname = "{n}"\naddress = "127.0.0.1"\nport = 1\ngroup = "dead"\n'
        f'known_hosts = "{tmp_path}/no_known_hosts"\n' for n in HOSTS[1:])
    cfg = tmp_path / "hostsnap.toml"
    cfg.write_text("\n".join([
        f'database_url = "{db_url}"',
        "[capture]", 'collectors = ["limits", "memory", "network"]',
        "[ssh]", "retries = 0", "connect_timeout = 2",
        "[slack]", f'api_base_url = "{fake.base_url}"', "retry_interval = 0.2",
        "update_interval = 0.3", "post_interval = 0.0",
        "[[authz]]", 'groups = ["*"]', 'channels = ["*"]', 'user_groups = ["*"]', "",
        dead]))
    return cfg


class Serve:
    """One `hostsnap serve --mode http` process."""

    def __init__(self, cfg: Path, log: Path) -> None:
        self.cfg, self.log = cfg, log
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, fake: FakeSlack) -> Serve:
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
               "SLACK_SIGNING_SECRET": SIGNING_SECRET}
        with self.log.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", "--mode", "http", "--port",
                str(self.port), "--config", str(self.cfg), env=env, stderr=err,
                stdout=asyncio.subprocess.DEVNULL)
        assert fake._session is not None
        for _ in range(600):  # up within seconds (imports, migrations)
            assert self.proc.returncode is None, self.log.read_text()[-2000:]
            try:
                async with fake._session.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"serve not up in 30 s: {self.log.read_text()[-2000:]}")

    def route(self, fake: FakeSlack) -> None:
        fake.events_url = f"http://127.0.0.1:{self.port}/slack/events"

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        await stop_process(self.proc)


async def rows(store: Store) -> tuple[list[FleetPostRow], list[SlackPostRow]]:
    async with store.sessions() as s:
        return (list((await s.scalars(select(FleetPostRow))).all()),
                list((await s.scalars(select(SlackPostRow))).all()))


async def until(cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = await cond()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_fleet_table_survives_a_killed_bot_and_comes_when_slack_is_back(
        fake: FakeSlack, tmp_path: Path, request: pytest.FixtureRequest, db: str) -> None:
    """Slack down; `/snapshot localhost dead-01 dead-02` ends; the bot is
    killed (SIGKILL); another serves (SQLite: started after, as a restart;
    PostgreSQL: a second replica already running); Slack back: the fleet
    table is posted once, each host's summary once, in its thread."""
    url = (f"sqlite:///{tmp_path}/hostsnap.db" if db == "sqlite"
           else request.getfixturevalue("pg_url"))
    cfg = write_config(tmp_path, fake, url)
    one = await Serve(cfg, tmp_path / "one.log").start(fake)
    two = Serve(cfg, tmp_path / "two.log")
    store = await Store.open(url)
    try:
        if db == "postgresql":
            await two.start(fake)  # the replica that survives
        fake.outage(True)
        one.route(fake)
        ack = await fake.command(LABEL, channel="C1")
        assert ack.status == 200

        async def fleet_queued():
            fleets, posts = await rows(store)
            return (len(fleets) == 1 and fleets[0].state == PENDING
                    and len(posts) == len(HOSTS)
                    and all(p.state == AWAITING for p in posts))

        await until(fleet_queued, 30, "the fleet table queued, the hosts awaiting it")
        (fleet,), posts = await rows(store)
        assert sorted(fleet.snapshots) == sorted(HOSTS)  # every host got a snapshot
        assert set(fleet.snapshots.values()) == {p.snapshot_id for p in posts}
        assert fleet.ts is None and not fake.messages  # nothing reached Slack

        await one.kill()
        if db == "sqlite":
            await two.start(fake)  # a restart, Slack still away
        two.route(fake)
        await asyncio.sleep(1.0)  # a few retry rounds against a Slack still down
        assert not fake.messages

        fake.outage(False)
        back = time.monotonic()

        def table():
            return next((m for m in fake.top_level("C1")
                         if f"*3 hosts ({LABEL})* — 1 saved, 2 not" in m.all_text), None)

        parent = await fake.wait_for(table, 15, "the fleet table")
        took = time.monotonic() - back
        summaries = [await summary_of(fake, host=h, channel="C1", thread_ts=parent.ts,
                                      timeout=15) for h in HOSTS]
        print(f"\n[{db}] Slack back -> fleet table {took:.2f} s, -> {len(HOSTS)} summaries "
              f"in its thread {time.monotonic() - back:.2f} s (retry_interval 0.2 s)")
        local, sid = summaries[0]
        assert "Evidence saved — safe to restart." in local.all_text
        assert sid == fleet.snapshots["localhost"]
        row = next(line for line in parent.all_text.splitlines()
                   if line.startswith("localhost"))
        assert " complete " in row and sid in row  # the table, rendered from the store
        for h, (msg, hsid) in zip(HOSTS[1:], summaries[1:], strict=True):
            assert f"*{h}* — snapshot `{hsid}` · failed" in msg.all_text

        async def all_done():
            fleets, posts = await rows(store)
            return all(r.state == DONE for r in fleets) and all(p.state == DONE for p in posts)

        await until(all_done, 10, "every post marked delivered")
        await asyncio.sleep(1.0)  # more retry rounds: nothing may come twice
        assert fake.top_level("C1") == [parent]
        thread = fake.replies("C1", parent.ts)
        named = Counter(m.all_text.split("*")[1] for m in thread)
        assert named == Counter(HOSTS), named  # each host once, nothing else
        (fleet,), _ = await rows(store)
        assert fleet.ts == parent.ts
    finally:
        fake.outage(False)
        await one.kill()
        await two.stop()
        await store.close()


async def test_fleet_killed_mid_capture_gets_its_table_from_the_next_start(
        fake: FakeSlack, tmp_path: Path) -> None:
    """Slack down and the bot SIGKILLed while one host is still being captured
    (an sshd that never answers): the next start marks that capture
    interrupted, and once Slack is back posts the fleet table with what was
    saved, both hosts' summaries in its thread."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    (tmp_path / "known_hosts").write_text("")
    cfg = tmp_path / "hostsnap.toml"
    cfg.write_text("\n".join([
        f'database_url = "sqlite:///{tmp_path}/hostsnap.db"',
        "[capture]", 'collectors = ["limits", "memory", "network"]',
        "[ssh]", "retries = 0", "connect_timeout = 30",
        "[slack]", f'api_base_url = "{fake.base_url}"', "retry_interval = 0.2",
        "update_interval = 0.3", "post_interval = 0.0",
        "[[authz]]", 'groups = ["*"]', 'channels = ["*"]', 'user_groups = ["*"]', "",
        '[[hosts]]', 'name = "slow-01"', 'address = "127.0.0.1"', f"port = {port}",
        'group = "slow"', f'known_hosts = "{tmp_path}/known_hosts"', ""]))
    one = await Serve(cfg, tmp_path / "one.log").start(fake)
    two = Serve(cfg, tmp_path / "two.log")
    store = await Store.open(f"sqlite:///{tmp_path}/hostsnap.db")
    try:
        fake.outage(True)
        one.route(fake)
        assert (await fake.command("localhost slow-01", channel="C1")).status == 200

        async def under_way():
            fleets, _ = await rows(store)
            if len(fleets) != 1 or sorted(fleets[0].snapshots) != ["localhost", "slow-01"]:
                return False
            local = await store.get_snapshot(fleets[0].snapshots["localhost"])
            return local.status == "complete"

        await until(under_way, 30, "localhost done, slow-01 still connecting")
        await one.kill()  # mid-capture: the fleet row is still `running`
        await two.start(fake)
        two.route(fake)
        fake.outage(False)

        def table():
            return next((m for m in fake.top_level("C1")
                         if "*2 hosts (localhost slow-01)* — 1 saved, 1 not" in m.all_text),
                        None)

        parent = await fake.wait_for(table, 20, "the fleet table")
        row = next(line for line in parent.all_text.splitlines()
                   if line.startswith("slow-01"))
        assert " interrupted " in row, row
        await summary_of(fake, host="localhost", channel="C1", thread_ts=parent.ts)
        slow, _ = await summary_of(fake, host="slow-01", channel="C1", thread_ts=parent.ts)
        assert "interrupted" in slow.all_text
        await asyncio.sleep(1.0)  # more retry rounds: nothing may come twice
        assert fake.top_level("C1") == [parent]
        named = Counter(m.all_text.split("*")[1] for m in fake.replies("C1", parent.ts))
        assert named == Counter(["localhost", "slow-01"]), named
    finally:
        fake.outage(False)
        silent.close()
        await one.kill()
        await two.stop()
        await store.close()


async def test_a_fleet_whose_heartbeat_stopped_is_taken_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica on another machine died mid-fleet (its pid cannot be checked
    from here): its row's heartbeat stops, and after FLEET_LEASE any replica
    queues the table; a fleet whose process beats is left alone."""
    monkeypatch.setattr(posts_module, "FLEET_BEAT_S", 0.05)
    store = await Store.open(f"sqlite:///{tmp_path}/hostsnap.db")
    posts = Posts(store)
    try:
        dead = await posts.create_fleet("C1", None, "@web", ["web-1", "web-2"], "U1")
        alive = await posts.create_fleet("C1", None, "@db", ["db-1", "db-2"], "U1")
        capture = asyncio.create_task(asyncio.sleep(30))  # the living fleet's capture
        beat = asyncio.create_task(posts.keep_fleet_alive(alive.id, capture))
        lease = timedelta(seconds=0.5)
        await asyncio.sleep(0.8)  # past the lease: only the beating row is fresh
        assert await posts.requeue_orphan_fleets(lambda owner: False, lease) == 1
        got = {f.label: f.state for f in
               [await posts.get_fleet(dead.id), await posts.get_fleet(alive.id)] if f}
        assert got == {"@web": PENDING, "@db": RUNNING}
        assert [f.id for f in await posts.pending_fleets()] == [dead.id]
        capture.cancel()
        await asyncio.wait_for(asyncio.gather(beat, return_exceptions=True), 5)
        await asyncio.sleep(0.8)  # the capture is over: no more beats
        assert await posts.requeue_orphan_fleets(lambda owner: False, lease) == 1
    finally:
        await store.close()
