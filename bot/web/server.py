"""hostsnap's HTTP side (aiohttp): /slack/events for Slack in HTTP mode
(signed requests, verified by Bolt), /healthz for load balancers and
orchestrators, /metrics for Prometheus. In Socket Mode only the last two are
served."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.ackgate import AckGate
from bot.metrics import Metrics
from bot.store.db import DEFAULT_TIMEOUT_S
from bot.store.faults import request_deadline, within

log = logging.getLogger(__name__)

#: Slack sends small payloads; anything bigger is not Slack
MAX_BODY = 1024 * 1024
#: seconds a request to /slack/events has to send its body
BODY_TIMEOUT_S = 10.0
#: seconds the database has to answer /healthz (probes time out at a few s)
HEALTH_TIMEOUT_S = 2.0

BOLT_APP: web.AppKey[AsyncApp] = web.AppKey("bolt_app", AsyncApp)
Ping = Callable[[], Awaitable[None]]
PING: web.AppKey[Ping] = web.AppKey("ping")
DB_DEADLINE: web.AppKey[float] = web.AppKey("db_deadline", float)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
GATE: web.AppKey[AckGate] = web.AppKey("gate", AckGate)


@dataclass
class Health:
    #: as of the last /healthz (logged when it changes)
    up: bool = True


HEALTH: web.AppKey[Health] = web.AppKey("health", Health)


async def slack_events(request: web.Request) -> web.Response:
    # The body first, outside the ack gate and in bounded time: anyone can
    # send one (the signature is checked after), and a body trickled in would
    # hold the connection for ever and the gate open (work after acks waits
    # for it). Slack sends its few kB at once.
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            await request.read()
    except TimeoutError:
        return web.json_response(
            {"ok": False, "error": f"body not received within {BODY_TIMEOUT_S:g} s"},
            status=408)
    with request.app[GATE].acking("http"):
        bolt_req = await to_bolt_request(request)
        bolt_resp = await request.app[BOLT_APP].async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers; 503 otherwise (Slack being away is not
    our health: we queue for it). Anyone may ask: the answer says no more
    than that; why the database does not answer (its address, its user, the
    driver's message) is in the log, once per outage."""
    state = request.app[HEALTH]
    try:  # a stalled database is unhealthy at once, not after the probe gave up
        await within(HEALTH_TIMEOUT_S, request.app[PING]())
    except Exception as e:
        if state.up:
            log.error("health: database unavailable: %s", e)
        state.up = False
        return web.json_response({"ok": False, "error": "database unavailable"}, status=503)
    if not state.up:
        log.info("health: database answers again")
    state.up = True
    return web.json_response({"ok": True})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render().encode(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def make_web_app(ping: Ping, metrics_: Metrics, bolt: AsyncApp | None = None,
                 gate: AckGate | None = None, db_timeout: float = DEFAULT_TIMEOUT_S
                 ) -> web.Application:
    """`ping` raises when the database does not answer; `db_timeout`:
    settings.database_timeout (a request's deadline follows from it)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[PING] = ping
    app[DB_DEADLINE] = request_deadline(db_timeout)
    app[METRICS] = metrics_
    app[HEALTH] = Health()
    if bolt is not None:
        app[BOLT_APP] = bolt
        app[GATE] = gate or AckGate(metrics_)
        app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
