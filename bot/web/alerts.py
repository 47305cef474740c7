"""POST /alerts/<receiver> on the bot's aiohttp server (it runs in Socket
Mode too: Slack needs no inbound URL then, alert senders still do).

Checks, cheapest first, each a clear 4xx and nothing captured: unknown
receiver 404; credentials 401/403 (before the body is read); Content-Type
415; size 413 (by Content-Length, then while reading); a body slower than
body_timeout 408; signature 401/403; body 400. A database that does not
answer is 503, which Alertmanager and Grafana retry; so is a full queue of
bodies waiting for their signature check. Any other failure is 500 with the
details in the log.

No request holds the event loop long (Slack acks and /healthz share it):
the body's size, its alerts and the validation errors are bounded before
the expensive work, and a big body is parsed in a worker process (offload.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.alerts.auth import Rejected
from bot.alerts.offload import Offload
from bot.alerts.payloads import Malformed, parse, shown
from bot.alerts.service import AlertService
from bot.settings.alerts import AlertSettings
from bot.store.faults import unavailable, within
from bot.web.server import DB_DEADLINE, PING

log = logging.getLogger(__name__)

ALERTS: web.AppKey[AlertService] = web.AppKey("alerts", AlertService)
CHUNK = 64 * 1024
#: bodies up to this size are parsed on the event loop (a few ms at most);
#: bigger ones in the worker process
INLINE_PARSE = 64 * 1024
#: how long a body waits for a free slot among max_unverified_bodies
SLOT_WAIT_S = 1.0
#: refusals of one receiver for one reason are logged once per this
LOG_EVERY_S = 10.0
#: how long the database may take to answer "are you there?" after an error
PING_TIMEOUT_S = 2.0


@dataclass
class Intake:
    #: bodies being read before their sender is verified (HMAC)
    unverified: asyncio.Semaphore
    offload: Offload
    #: (receiver, reason) -> (when last logged, refusals not logged since)
    logged: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)


INTAKE: web.AppKey[Intake] = web.AppKey("alert_intake", Intake)


def attach(settings: AlertSettings, make: Callable[[], AlertService], app: web.Application
           ) -> AlertService | None:
    """Serve the configured receivers on `app`; the service starts and stops
    with the app (aiohttp startup/cleanup). None when no receiver is configured.
    Raises AlertConfigError when a receiver's secret is missing."""
    if not settings.receivers:
        return None
    service = make()
    app[ALERTS] = service
    intake = Intake(asyncio.Semaphore(settings.max_unverified_bodies), Offload())
    app[INTAKE] = intake
    app.router.add_post("/alerts/{receiver}", receive)

    async def start(_: web.Application) -> None:
        await service.start()

    async def stop(_: web.Application) -> None:
        await service.stop()
        await intake.offload.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return service


async def receive(request: web.Request) -> web.Response:
    svc = request.app[ALERTS]
    name = request.match_info["receiver"]
    auth = svc.receivers.get(name)
    if auth is None:
        return _error(404, f"no alert receiver named '{shown(name)}'")
    intake = request.app[INTAKE]
    settings = svc.settings
    t0 = time.perf_counter()
    try:
        auth.check_headers(request.headers)
        if request.content_type != "application/json":
            raise Rejected(415, "Content-Type must be application/json, not "
                                f"{shown(request.content_type)}", "content_type")
        if auth.verifies_body:
            async with _slot(intake.unverified):
                body = await _read(request, settings.max_body, settings.body_timeout)
        else:
            body = await _read(request, settings.max_body, settings.body_timeout)
        auth.check_body(request.headers, body)
        kind, limit = auth.receiver.kind, settings.max_alerts
        if len(body) <= INLINE_PARSE:
            alerts = parse(kind, name, body, max_alerts=limit)
        else:
            alerts = await intake.offload.parse(kind, name, body, max_alerts=limit)
    except Rejected as e:
        return _rejected(svc, request, name, e)
    except Malformed as e:
        return _rejected(svc, request, name, Rejected(400, str(e), "malformed"))
    try:  # answered before Alertmanager gives up (10 s) and resends: a stalled
        # database is a 503 now, its transaction rolled back, not a pile of
        # hung requests
        outcomes = await within(request.app[DB_DEADLINE], svc.handle(alerts))
    except Exception as e:
        if await _unreachable(request, e):
            log.error("alerts from %s not recorded: database unavailable: %s", name, e)
            return _error(503, "database unavailable; nothing was recorded, retry later")
        # a bug or data the database refused: answered 500, not 503, which
        # tells senders the database is away (and would page on it); the
        # webhook is not refused either: its alerts may share a batch
        # (one INSERT) with the one at fault
        log.exception("alerts from %s not recorded", name)
        return _error(500, "internal error; alerts not handled (details in hostsnap's log)")
    svc.metrics.observe("hostsnap_alert_webhook_seconds", time.perf_counter() - t0,
                        receiver=name)
    return web.json_response({"ok": True, "received": len(alerts),
                              "alerts": [o.json() for o in outcomes]})


async def _unreachable(request: web.Request, e: Exception) -> bool:
    """The database is away (a retry later will do), as opposed to a bug or
    data it refused (a retry would fail the same way). The error says so, or
    else the database is asked: a dropped connection shows as odd errors
    (asyncpg: "cannot switch to state 12"), and it is the next connection
    that tells."""
    if unavailable(e):
        return True
    if not isinstance(e, SQLAlchemyError):
        return False  # ours
    ping = request.app.get(PING)
    if ping is None:
        return False
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):
            await ping()
    except Exception:
        return True
    return False


@contextlib.asynccontextmanager
async def _slot(sem: asyncio.Semaphore) -> AsyncIterator[None]:
    """One of the unverified-body slots, waited for SLOT_WAIT_S at most."""
    try:
        async with asyncio.timeout(SLOT_WAIT_S):
            await sem.acquire()
    except TimeoutError:
        raise Rejected(503, "too many webhook bodies being received; retry later",
                       "busy", {"Retry-After": "5"}) from None
    try:
        yield
    finally:
        sem.release()


async def _read(request: web.Request, limit: int, timeout: float) -> bytes:
    too_big = Rejected(413, f"body larger than {limit} bytes (alerts.max_body)", "too_large")
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    buf = bytearray()
    # read by chunks, not request.read(): a sender lying about (or omitting)
    # Content-Length is cut off at the limit, not buffered whole
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(CHUNK):
                buf += chunk
                if len(buf) > limit:
                    raise too_big
    except TimeoutError:
        raise Rejected(408, f"body not received within {timeout:g} s (alerts.body_timeout)",
                       "timeout") from None
    return bytes(buf)


def _rejected(svc: AlertService, request: web.Request, name: str, e: Rejected
              ) -> web.Response:
    svc.metrics.inc("hostsnap_alert_rejected_total", receiver=name, reason=e.reason)
    # one line per receiver and reason per LOG_EVERY_S: whoever can reach the
    # port must not be able to fill the disk (the metric counts every refusal)
    intake = request.app[INTAKE]
    key = (name, e.reason)
    now = time.monotonic()
    last, hushed = intake.logged.get(key, (now - LOG_EVERY_S, 0))
    if now - last < LOG_EVERY_S:
        intake.logged[key] = (last, hushed + 1)
    else:
        intake.logged[key] = (now, 0)
        more = f" ({hushed} more refused for this since)" if hushed else ""
        log.warning("alert webhook %s from %s refused (%d): %s%s", name, request.remote,
                    e.status, e.message, more)
    return _error(e.status, e.message, e.headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status, headers=headers)
