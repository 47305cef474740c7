"""Alert intake under abuse (issue 13): bodies PostgreSQL cannot store, bodies
built to be expensive, forged HMAC timestamps, slow bodies, Slack away when
the bot starts in HTTP mode, and what /healthz tells strangers. The bot runs
as `hostsnap serve` runs it, in this process and event loop, so the loop lag
and RSS measured here are the server's."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.settings.alerts import Route
from tests.alerts.conftest import Replica, count_alerts, http, replicas  # noqa: F401
from tests.alerts.senders import (
    AM_TOKEN,
    BASIC_PASSWORD,
    BASIC_USER,
    GRAFANA_SECRET,
    GRAFANA_TS_HEADER,
    alert_settings,
    am_alert,
    am_payload,
    grafana_payload,
)
from tests.conftest import _pg_admin
from tests.fakeslack import FakeSlack
from tests.slack.conftest import bot_factory, fake, store, summary_of  # noqa: F401

T = TypeVar("T")
JSON = {"Content-Type": "application/json"}
BEARER = {**JSON, "Authorization": f"Bearer {AM_TOKEN}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Both databases: PostgreSQL is the one that refuses NUL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/hostsnap.db"
    return str(request.getfixturevalue("pg_url"))


class LoopLag:
    """The longest the event loop went without running a 10 ms ticker."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.gaps: list[tuple[float, float]] = []
        self.t0 = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.01)
            if now - last > 0.06:
                self.gaps.append((round(last - self.t0, 2), round(now - last, 3)))
            last = now

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0.05)
        self.worst = 0.0
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def healthz_while(session: aiohttp.ClientSession, port: int,
                        work: Awaitable[T]) -> tuple[T, list[float]]:
    """`work`'s result, and the latencies of /healthz asked every 20 ms meanwhile."""
    latencies: list[float] = []
    task = asyncio.ensure_future(work)
    for _ in range(3000):  # bounded: 60 s
        t0 = time.perf_counter()
        async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert r.status == 200
        latencies.append(time.perf_counter() - t0)
        if task.done():
            break
        await asyncio.sleep(0.02)
    return await task, latencies


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


# -- text PostgreSQL cannot store ------------------------------------------------------
async def test_nul_and_lone_surrogates_are_stored_and_the_rest_of_the_body_kept(
        replicas, fake: FakeSlack) -> None:  # noqa: F811
    # every alert routes to a capture: the host lookup and its audit see the text too
    bot: Replica = await replicas(alert_settings(routes=[Route(name="all", channel="CINC")]))
    poison = am_alert("Poison\x00", instance="web-\x00", severity="info", note="a\ud800b")
    poison["labels"]["k\x00"] = "v"
    poison["annotations"]["summary"] = "lone \udfff surrogate and \x00 NUL"
    good = am_alert("Fine", instance="web-07:9100", severity="info")
    # json.dumps escapes both (\u0000, \ud800), as a sender's encoder would
    r = await bot.send.am(am_payload(poison, good))
    assert r.status == 200, r.body
    assert r.outcomes == ["unknown_host", "unknown_host"]
    rows = {row.alertname: row for row in await bot.alert_rows()}
    assert set(rows) == {"Poison\ufffd", "Fine"}
    stored = rows["Poison\ufffd"]
    assert stored.labels["note"] == "a\ufffdb" and stored.labels["k\ufffd"] == "v"
    assert stored.annotations["summary"] == "lone \ufffd surrogate and \ufffd NUL"
    # a redelivery is a duplicate: the key is computed from the stored text
    r = await bot.send.am(am_payload(poison, good))
    assert r.outcomes == ["duplicate", "duplicate"]
    # the generic form too, where a NUL in the host would reach the audit
    r = await bot.send.generic({"alerts": [{"name": "G\x00", "host": "h\x00st"},
                                           {"name": "G2", "host": "\udbff"}]})
    assert r.status == 200 and r.outcomes == ["unknown_host", "unknown_host"]
    assert await count_alerts(bot.store) == 4
    targets = {a.target for a in await bot.store.audit_events(action="refused")}
    assert targets == {"host=\ufffd", "host=h\ufffdst", "instance=web-07", "instance=web-\ufffd"}


# -- bodies built to be expensive ------------------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_expensive_bodies_are_refused_without_stalling_the_bot(
        replicas, http: aiohttp.ClientSession) -> None:  # noqa: F811
    bot: Replica = await replicas()
    flat = am_payload(am_alert("A"))
    flat["alerts"][0]["labels"] = {f"k{i}": 1 for i in range(75_000)}  # an error per entry
    wrong = am_payload(*[am_alert("A") for _ in range(1000)])
    for alert in wrong["alerts"]:
        alert["labels"] = {f"k{i}": [i] for i in range(40)}
    bodies = {
        "250 000 empty alerts": (json.dumps({"alerts": [{}] * 250_000}),
                                 "250000 alerts in one webhook, more than 1000 "
                                 "(alerts.max_alerts); set max_alerts at the sender"),
        "75 000 labels": (json.dumps(flat), "alerts.0.labels: 75000 entries, more than 1000"),
        "1000 alerts of wrong labels": (json.dumps(wrong),
            "alerts.0.labels.k0: Input should be a valid string; alerts.0.labels.k1: Input "
            "should be a valid string; alerts.0.labels.k2: Input should be a valid string; "
            "alerts.0.labels.k3: Input should be a valid string; alerts.0.labels.k4: Input "
            "should be a valid string (+35 more, later alerts not checked)"),
        "nested 500 000 deep": ("[" * 500_000 + "]" * 500_000,
                                "body is not JSON we accept: nested too deeply"),
    }
    before = rss_mb()
    for what, (text, error) in bodies.items():
        body = text.encode()
        assert len(body) <= 1024 * 1024, (what, len(body))
        async with LoopLag() as lag:
            r, health = await healthz_while(http, bot.running.port,
                                            bot.send.post("/alerts/am", body, BEARER))
        print(f"{what}: {len(body) / 1e6:.2f} MB, answered in {r.elapsed * 1000:.0f} ms, "
              f"loop lag max {lag.worst * 1000:.1f} ms, /healthz max "
              f"{max(health) * 1000:.1f} ms over {len(health)}")
        assert (r.status, r.error) == (400, error)
        assert lag.worst <= 0.100, (what, lag.worst)
        assert max(health) <= 0.5, (what, health)  # a SQLite ping in a thread, 2 shared cores
    # and a legitimate group of 1000 alerts (400 kB) still goes through
    group = json.dumps(am_payload(*[am_alert("Big", instance=f"h{i}:9100", severity="info")
                                    for i in range(1000)])).encode()
    async with LoopLag() as lag:
        r, health = await healthz_while(http, bot.running.port,
                                        bot.send.post("/alerts/am", group, BEARER))
    print(f"a valid group of 1000 alerts: {len(group) / 1e6:.2f} MB, answered in "
          f"{r.elapsed * 1000:.0f} ms, loop lag max {lag.worst * 1000:.1f} ms")
    assert r.status == 200 and r.outcomes == ["no_route"] * 1000
    assert lag.worst <= 0.100, lag.worst
    grown = rss_mb() - before
    worker = sum(c.memory_info().rss for c in psutil.Process().children(recursive=True)) / 1e6
    print(f"RSS growth over the five bodies: {grown:.1f} MB (child processes: {worker:.0f} MB)")
    assert grown < 100, grown
    assert await count_alerts(bot.store) == 1000


# -- HMAC timestamps, slow bodies --------------------------------------------------------
def grafana_headers(body: bytes, stamp: str) -> dict[str, str]:
    sig = hmac.new(GRAFANA_SECRET.encode(), stamp.encode() + b":" + body,
                   hashlib.sha256).hexdigest()
    return {**JSON, "X-Grafana-Alerting-Signature": sig, GRAFANA_TS_HEADER: stamp}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_hmac_timestamps_must_be_whole_seconds_inside_the_window(replicas) -> None:  # noqa: F811
    bot: Replica = await replicas()
    body = json.dumps(grafana_payload("ForkFailing", instance="web-07:9100")).encode()
    for stamp in ["nan", "NaN", "inf", "-inf", "-1", "1e9", f"{time.time():.3f}", "0x10",
                  "9" * 30, "١٧٠٠٠٠٠٠٠٠", "+" + str(int(time.time()))]:
        # correctly signed: only the timestamp is wrong
        r = await bot.send.post("/alerts/grafana", body, grafana_headers(body, stamp))
        assert r.status == 403, (stamp, r)
        assert r.error in (f"{GRAFANA_TS_HEADER} is not a Unix time in whole seconds",
                           ), (stamp, r.error)
    r = await bot.send.post("/alerts/grafana", body, grafana_headers(body, "0"))
    assert r.status == 403 and r.error.startswith("signature timestamp is ")
    r = await bot.send.post("/alerts/grafana", body,
                            grafana_headers(body, str(int(time.time()))))
    assert r.status == 200 and r.outcomes == ["unknown_host"]
    assert await count_alerts(bot.store) == 1


#: run in another process: the 300 slow clients' own work must not count as
#: the server's loop lag. Each sends its head and one byte of the body, then
#: nothing; prints the status line each got (or "held open") and when.
SLOW_CLIENTS = r"""
import asyncio, json, sys, time
port, n, hold, head = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

async def one():
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"{")
        await writer.drain()
        async with asyncio.timeout(hold):
            line = await reader.readline()
        return line.decode().strip(), time.perf_counter() - t0
    except TimeoutError:
        return "held open", time.perf_counter() - t0
    finally:
        writer.close()

async def main():
    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    await asyncio.sleep(0.5)
    print("connected", flush=True)
    print(json.dumps(await asyncio.gather(*tasks)), flush=True)

asyncio.run(main())
"""


async def slow_clients(port: int, head: bytes, n: int, hold: float
                       ) -> tuple[asyncio.subprocess.Process, Callable[[], Awaitable[Any]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SLOW_CLIENTS, str(port), str(n), str(hold), head.decode(),
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        assert (await proc.stdout.readline()).strip() == b"connected"

    async def results() -> Any:
        assert proc.stdout is not None
        async with asyncio.timeout(hold + 20):
            out = json.loads(await proc.stdout.readline())
            await proc.wait()
        return out

    return proc, results


def _head(path: str, headers: dict[str, str], length: int = 100_000) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_slow_bodies_are_bounded_in_number_and_time(
        replicas, http: aiohttp.ClientSession,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    bot: Replica = await replicas(alert_settings(body_timeout=2.0, max_unverified_bodies=32))
    port = bot.running.port
    stamp = str(int(time.time()))
    signed = _head("/alerts/grafana", grafana_headers(b"whatever", stamp)).encode()
    before = rss_mb()
    async with LoopLag() as lag:
        proc, results = await slow_clients(port, signed, 300, hold=8.0)
        try:
            grown_while_open = rss_mb() - before
            answers, health = await healthz_while(http, port, results())
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    statuses = [a for a, _ in answers]
    count = {s: statuses.count(s) for s in set(statuses)}
    slowest = max(t for _, t in answers)
    print(f"300 slow bodies: {count}; all answered within {slowest:.2f} s; "
          f"RSS +{grown_while_open:.1f} MB while open; loop lag max {lag.worst * 1000:.1f} ms; "
          f"/healthz max {max(health) * 1000:.1f} ms over {len(health)}; gaps {lag.gaps}")
    # 32 are read (and time out: 408), the rest wait a second for a slot (503)
    assert count == {"HTTP/1.1 408 Request Timeout": 32,
                     "HTTP/1.1 503 Service Unavailable": 268}, count
    assert slowest < 4.0
    assert grown_while_open < 40, grown_while_open
    # the refusals are counted, and logged once per reason (not 300 lines)
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.web.alerts"]
    assert sorted(m.split(": ", 1)[1] for m in logged) == [
        "body not received within 2 s (alerts.body_timeout)",
        "too many webhook bodies being received; retry later"], logged
    async with http.get(f"http://127.0.0.1:{port}/metrics") as m:
        metrics = await m.text()
    assert 'hostsnap_alert_rejected_total{reason="busy",receiver="grafana"} 268' in metrics
    assert 'hostsnap_alert_rejected_total{reason="timeout",receiver="grafana"} 32' in metrics
    # 300 connections arriving at once are 300 requests for aiohttp to take in:
    # a burst (~0.1-0.3 s here, 2 shared cores), never a stall of the bot
    assert max(health) < 0.5 and lag.worst < 0.5
    # the bearer and basic receivers answer without waiting for the body
    cred = base64.b64encode(f"{BASIC_USER}:nope".encode()).decode()
    for path, headers, status in [
            ("/alerts/am", {**JSON, "Authorization": "Bearer guessed"}, "403"),
            ("/alerts/am", JSON, "401"),
            ("/alerts/hooks", {**JSON, "Authorization": f"Basic {cred}"}, "403")]:
        _, results = await slow_clients(port, _head(path, headers).encode(), 1, hold=5.0)
        ((line, t),) = await results()
        assert line.split(" ")[1] == status and t < 1.0, (path, line, t)
    assert await count_alerts(bot.store) == 0


# -- Slack away at start-up (HTTP mode), /healthz ------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_http_mode_serves_requests_when_slack_was_away_at_start(
        bot_factory, fake: FakeSlack) -> None:  # noqa: F811
    fake.outage(True)
    bot = await bot_factory(mode="http")
    assert fake.calls_of("auth.test", status=0)  # it was asked, and got no answer
    ack = await fake.command("localhost")
    assert ack.status == 200  # was 500: Bolt asked Slack again, on every request
    fake.outage(False)
    msg, _ = await summary_of(fake, timeout=15)  # the capture's message, once Slack is back
    assert "Evidence saved" in msg.all_text
    await fake.wait_for(lambda: fake.calls_of("auth.test"), 10, "auth.test answered")
    ack = await fake.command("help")
    assert ack.status == 200
    await bot.idle()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_healthz_says_unavailable_and_keeps_the_reason_in_the_log(
        replicas, pg_url: str, http: aiohttp.ClientSession,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    bot: Replica = await replicas()
    name = pg_url.rsplit("/", 1)[1]
    url = f"http://127.0.0.1:{bot.running.port}/healthz"
    _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        with caplog.at_level(logging.ERROR, logger="bot.web.server"):
            for _ in range(3):
                async with http.get(url) as r:
                    text = await r.text()
                assert (r.status, json.loads(text)) == (503, {"ok": False,
                                                              "error": "database unavailable"})
                assert name not in text
        logged = [rec.getMessage() for rec in caplog.records if rec.name == "bot.web.server"]
        assert len(logged) == 1 and name in logged[0], logged  # once per outage, with why
    finally:
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    for _ in range(50):  # bounded: the pool reconnects
        async with http.get(url) as r:
            if r.status == 200:
                break
        await asyncio.sleep(0.1)
    assert r.status == 200


# -- arbitrary payloads ----------------------------------------------------------------------
NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d\ude00", "\u2028", "\x1b[31m",
                         "'; DROP TABLE alerts; --", "%s%n", "\\", '"', "localhost"])
TEXT = st.one_of(st.text(max_size=20), NASTY, st.text(max_size=3).map(lambda s: s * 3000),
                 st.lists(NASTY, max_size=4).map("".join))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), TEXT)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)
LABELS = st.one_of(st.dictionaries(TEXT, TEXT, max_size=6), st.dictionaries(TEXT, VALUE,
                                                                            max_size=3), VALUE)


@st.composite
def alert_payloads(draw: st.DrawFn) -> tuple[str, Any]:
    """A receiver and a body: mostly the right shape with nasty contents,
    sometimes anything at all."""
    receiver = draw(st.sampled_from(["am", "grafana", "hooks"]))
    base: dict[str, Any]
    if receiver == "hooks":
        base = {"name": draw(TEXT), "host": draw(TEXT), "labels": draw(LABELS),
                "summary": draw(TEXT)}
        if draw(st.booleans()):
            base = {"alerts": [base, {"name": "ok", "host": draw(TEXT)}]}
    else:
        alert = am_alert("X", instance=draw(TEXT))
        alert["labels"].update(draw(st.dictionaries(TEXT, TEXT, max_size=4)))
        base = (am_payload(alert) if receiver == "am"
                else {**grafana_payload("X", instance="y"), "alerts": [alert]})
        alert["annotations"] = draw(LABELS)
        for key in draw(st.lists(st.sampled_from(sorted(alert)), max_size=2)):
            alert[key] = draw(VALUE)
        for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=2)):
            base[key] = draw(VALUE)
    doc = draw(st.one_of(st.just(base), VALUE)) if draw(st.integers(0, 9)) == 0 else base
    return receiver, doc


def _request(receiver: str, doc: Any) -> tuple[str, bytes, dict[str, str]]:
    body = json.dumps(doc).encode()  # NUL and surrogates as \u escapes
    if receiver == "am":
        return "/alerts/am", body, BEARER
    if receiver == "grafana":
        return "/alerts/grafana", body, grafana_headers(body, str(int(time.time())))
    cred = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    return "/alerts/hooks", body, {**JSON, "Authorization": f"Basic {cred}"}


@pytest.mark.slow
async def test_arbitrary_payloads_never_5xx_and_refusals_record_nothing(
        replicas, fake: FakeSlack) -> None:  # noqa: F811
    # every alert routes to a capture; no host is in the inventory (no localhost)
    bot: Replica = await replicas(alert_settings(routes=[Route(name="all", channel="CINC")]),
                                  settings={"allow_localhost": False,
                                            "allow_patterns": ["*"]})
    loop = asyncio.get_running_loop()
    seen: dict[int, int] = {}

    def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
        async def wrapped() -> T:
            return await coro_fn()
        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(timeout=30)

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(alert_payloads())
    def check(case: tuple[str, Any]) -> None:
        path, body, headers = _request(*case)
        before = run(lambda: count_alerts(bot.store))
        r = run(lambda: bot.send.post(path, body, headers))
        seen[r.status] = seen.get(r.status, 0) + 1
        assert r.status in (200, 400, 413), (r.status, r.body, body[:300])
        after = run(lambda: count_alerts(bot.store))
        if r.status != 200:
            assert after == before and r.error and "\n" not in r.error
        else:
            assert set(r.outcomes) <= {"unknown_host", "no_host", "duplicate"}, r.outcomes

    await asyncio.to_thread(check)
    print(f"answers over {sum(seen.values())} payloads: {dict(sorted(seen.items()))}; "
          f"alerts recorded: {await count_alerts(bot.store)}")
    await bot.idle()
    assert await bot.snapshots() == 0 and not fake.calls_of("chat.postMessage")
    assert seen.get(200, 0) >= 30 and seen.get(400, 0) >= 30, seen  # both kinds exercised
    async with bot.send.session.get(bot.send.base + "/healthz") as h:
        assert h.status == 200


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_data_the_database_refuses_is_500_not_503(
        replicas, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """503 tells senders the database is away (retry, page someone about the
    database); a value PostgreSQL refuses is not that. Here a channel longer
    than its column (SQLite would not check) makes every decision fail. The config
    refuses such a channel now, so the route is built around validation."""
    long = "C" + "0" * 40
    with pytest.raises(ValueError):
        Route(name="all", channel=long)
    route = Route.model_construct(name="all", channel=long)
    bot: Replica = await replicas(alert_settings(routes=[route]))
    with caplog.at_level(logging.ERROR, logger="bot.web.alerts"):
        r = await bot.send.am(am_payload(am_alert("HostThreadsNearLimit",
                                                  instance="localhost:9100")))
    assert (r.status, r.error) == (500, "internal error; alerts not handled (details in "
                                        "hostsnap's log)")
    (rec,) = [rec for rec in caplog.records if rec.name == "bot.web.alerts"]
    assert rec.exc_info and "value too long" in str(rec.exc_info[1])
    await bot.idle()
    assert await bot.snapshots() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_database_that_refuses_connections_is_503(replicas, pg_url: str) -> None:  # noqa: F811
    bot: Replica = await replicas()
    name = pg_url.rsplit("/", 1)[1]
    _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        for i in range(3):  # a pooled connection found dead, then new ones refused
            r = await bot.send.am(am_payload(am_alert("HostThreadsNearLimit",
                                                      instance=f"web-{i}:9100")))
            assert (r.status, r.error) == (503, "database unavailable; nothing was recorded, "
                                                "retry later"), r
    finally:
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_slow_body_to_slack_events_is_408_and_holds_no_ack(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import bot.web.server

    monkeypatch.setattr(bot.web.server, "BODY_TIMEOUT_S", 1.0)  # 10 s in production
    b = await bot_factory(mode="http")
    head = _head("/slack/events", {"Content-Type": "application/x-www-form-urlencoded"})
    _, results = await slow_clients(b.running.port, head.encode(), 20, hold=6.0)
    ack = await fake.command("help")  # Slack's own requests meanwhile
    assert ack.status == 200 and ack.elapsed < 1.0, ack
    gate = b.running.bot.gate
    assert gate._acking == 0  # the trickling bodies are not acks being made
    answers = await results()
    assert {line for line, _ in answers} == {"HTTP/1.1 408 Request Timeout"}, answers
    assert max(t for _, t in answers) < 3.0
    await b.idle()


@pytest.mark.slow
async def test_the_installed_serve_parses_big_bodies_in_its_worker(
        fake: FakeSlack, tmp_path: Any) -> None:  # noqa: F811
    """`python -m bot serve` as deployed: a big body goes to the worker
    process (spawned from a real __main__) and the service still stops cleanly."""
    import os
    import signal
    import socket

    from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET

    cfg = tmp_path / "hostsnap.toml"
    cfg.write_text("\n".join([
        f'database_url = "sqlite:///{tmp_path}/hostsnap.db"',
        "[slack]", f'api_base_url = "{fake.base_url}"',
        "[[authz]]", 'groups = ["*"]', 'channels = ["*"]', 'user_groups = ["*"]',
        "[[alerts.receivers]]", 'name = "am"', 'kind = "alertmanager"', 'auth = "bearer"',
        f'token = "{AM_TOKEN}"', ""]))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--mode", "http", "--port", str(port),
        "--config", str(cfg), env=env, stderr=asyncio.subprocess.PIPE)
    group = json.dumps(am_payload(*[am_alert("Big", instance=f"h{i}:9100", severity="info")
                                    for i in range(500)])).encode()
    empty = json.dumps({"alerts": [{}] * 250_000}).encode()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(300):  # up within a few seconds (imports, migrations)
                with contextlib.suppress(OSError):
                    async with s.get(base + "/healthz") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.05)
            async with s.post(base + "/alerts/am", data=empty, headers=BEARER) as r:
                assert r.status == 400 and (await r.json())["error"].startswith(
                    "250000 alerts in one webhook"), await r.text()
            async with s.post(base + "/alerts/am", data=group, headers=BEARER) as r:
                assert r.status == 200, await r.text()
                assert [a["outcome"] for a in (await r.json())["alerts"]] == ["no_route"] * 500
            workers = psutil.Process(proc.pid).children(recursive=True)
            assert workers  # the parser process (and multiprocessing's helper)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    for _ in range(50):  # bounded: the worker exits with its parent
        if not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers):
            break
        await asyncio.sleep(0.1)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
