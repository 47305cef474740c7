"""POST /alerts/<receiver> on the bot's aiohttp server (it runs in Socket
Mode too: Slack needs no inbound URL then, alert senders still do).

Checks, cheapest first, each a clear 4xx and nothing captured: unknown
receiver 404; credentials 401/403 (before the body is read); Content-Type
415; size 413 (by Content-Length, then while reading); signature 401/403;
body 400. A database that does not answer is 503, which Alertmanager and
Grafana retry."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.alerts.auth import Rejected
from bot.alerts.payloads import Malformed, parse
from bot.alerts.service import AlertService
from bot.alerts.settings import AlertSettings
from bot.slack.bot import HostsnapBot

log = logging.getLogger(__name__)

ALERTS: web.AppKey[AlertService] = web.AppKey("alerts", AlertService)
CHUNK = 64 * 1024


def attach(settings: AlertSettings, bot: HostsnapBot, app: web.Application
           ) -> AlertService | None:
    """Serve the configured receivers on `app`; the service starts and stops
    with the app (aiohttp startup/cleanup). None when no receiver is configured.
    Raises AlertConfigError when a receiver's secret is missing."""
    if not settings.receivers:
        return None
    service = AlertService(settings, bot)
    app[ALERTS] = service
    app.router.add_post("/alerts/{receiver}", receive)

    async def start(_: web.Application) -> None:
        await service.start()

    async def stop(_: web.Application) -> None:
        await service.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return service


async def receive(request: web.Request) -> web.Response:
    svc = request.app[ALERTS]
    name = request.match_info["receiver"]
    auth = svc.receivers.get(name)
    if auth is None:
        return _error(404, f"no alert receiver named '{name[:64]}'")
    t0 = time.perf_counter()
    try:
        auth.check_headers(request.headers)
        if request.content_type != "application/json":
            raise Rejected(415, "Content-Type must be application/json, not "
                                f"{request.content_type[:64]}", "content_type")
        body = await _read(request, svc.settings.max_body)
        auth.check_body(request.headers, body)
        alerts = parse(auth.receiver.kind, name, body, max_alerts=svc.settings.max_alerts)
    except Rejected as e:
        return _rejected(svc, request, name, e)
    except Malformed as e:
        return _rejected(svc, request, name, Rejected(400, str(e), "malformed"))
    try:
        outcomes = await svc.handle(alerts)
    except (SQLAlchemyError, OSError) as e:
        log.error("alerts from %s not recorded: database unavailable: %s", name, e)
        return _error(503, "database unavailable; nothing was recorded, retry later")
    svc.metrics.observe("hostsnap_alert_webhook_seconds", time.perf_counter() - t0,
                        receiver=name)
    return web.json_response({"ok": True, "received": len(alerts),
                              "alerts": [o.json() for o in outcomes]})


async def _read(request: web.Request, limit: int) -> bytes:
    too_big = Rejected(413, f"body larger than {limit} bytes (alerts.max_body)", "too_large")
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    buf = bytearray()
    # read by chunks, not request.read(): a sender lying about (or omitting)
    # Content-Length is cut off at the limit, not buffered whole
    async for chunk in request.content.iter_chunked(CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise too_big
    return bytes(buf)


def _rejected(svc: AlertService, request: web.Request, name: str, e: Rejected
              ) -> web.Response:
    svc.metrics.inc("hostsnap_alert_rejected_total", receiver=name, reason=e.reason)
    log.warning("alert webhook %s from %s refused (%d): %s", name, request.remote,
                e.status, e.message)
    return _error(e.status, e.message, e.headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status, headers=headers)
