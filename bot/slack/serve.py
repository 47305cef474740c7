"""`hostsnap serve`: the Slack bot as a long-running service.

Socket Mode (default: no public URL, an outbound websocket to Slack) or HTTP
mode (Slack POSTs signed requests to /slack/events). Either way an aiohttp
server answers /healthz and /metrics. Start-up recovers what a previous run
left behind (interrupted captures, messages Slack never got)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.ackgate import AckGate
from bot.alerts.service import AlertService
from bot.app import open_store, ping
from bot.config import Settings
from bot.metrics import Metrics
from bot.settings.alerts import AlertConfigError
from bot.settings.slack import SlackSettings
from bot.settings.web import WebConfigError
from bot.slack.alerts import AlertSlack
from bot.slack.api import make_client, make_session
from bot.slack.app import build_app, set_auth
from bot.slack.bot import HostsnapBot
from bot.store.service import Store
from bot.web.alerts import attach as attach_alerts
from bot.web.server import make_web_app

log = logging.getLogger(__name__)


class ServeError(Exception):
    """Cannot serve (missing token, port taken); the message is for users."""


def check(s: SlackSettings) -> None:
    if not s.bot_token:
        raise ServeError("no Slack bot token: set [slack].bot_token, "
                         "HOSTSNAP_SLACK__BOT_TOKEN or SLACK_BOT_TOKEN (xoxb-…)")
    if s.mode == "socket" and not s.app_token:
        raise ServeError("Socket Mode needs an app-level token: set [slack].app_token or "
                         "SLACK_APP_TOKEN (xapp-…, scope connections:write), "
                         "or use --mode http")
    if s.mode == "http" and not s.signing_secret:
        raise ServeError("HTTP mode needs the signing secret: set [slack].signing_secret or "
                         "SLACK_SIGNING_SECRET")


@dataclass
class Running:
    bot: HostsnapBot
    app: AsyncApp
    runner: web.AppRunner
    port: int
    socket: AsyncSocketModeHandler | None
    session: aiohttp.ClientSession
    #: asks Slack who we are until it answers (it was away at start-up)
    whoami: asyncio.Task[None] | None = None


class SlackService:
    """Start and stop everything `serve` runs; tests drive it directly."""

    def __init__(self, settings: Settings, store: Store, *, metrics: Metrics | None = None
                 ) -> None:
        self.settings = settings.model_copy(update={"slack": settings.slack.resolved()})
        self.store = store
        self.metrics = metrics or Metrics()
        self.running: Running | None = None

    async def start(self) -> Running:
        s = self.settings.slack
        check(s)
        secret = _web_secret(self.settings)  # a missing secret stops us before Slack
        # one HTTP session for every Web API call: keep-alive to Slack, each
        # request bounded by api_timeout
        session = make_session(s)
        client = make_client(s, session)
        gate = AckGate(self.metrics)
        bot = HostsnapBot(self.settings, self.store, client, metrics=self.metrics, gate=gate)
        auth = None
        try:
            auth = await client.auth_test()
            log.info("connected to Slack as %s in %s", auth.get("user"), auth.get("team"))
        except SlackApiError as e:
            await session.close()
            raise ServeError(f"Slack refused the bot token: {e.response.get('error')}") from e
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            # keep going: Socket Mode reconnects, pending posts wait for Slack
            log.warning("Slack unreachable at start-up (%s); retrying in the background", e)
        await bot.start()
        pool = bot.captures.pool  # per replica: each keeps its own sessions
        self.metrics.gauge("hostsnap_warm_sessions", lambda: len(pool.warm_states))
        self.metrics.gauge("hostsnap_warm_sessions_connected", lambda: sum(
            1 for ws in pool.warm_states.values()
            if ws.session is not None and not ws.session.closed))
        # Without an auth.test answer Bolt asks again on every request and
        # answers 500 while Slack is away: requests are served with what the
        # token says until Slack answers (only the bot's own user id is
        # missing meanwhile, used to ignore its own events)
        app = build_app(bot, signing_secret=s.signing_secret if s.mode == "http" else None,
                        auth=auth or _provisional_auth(client))
        web_app = make_web_app(self._ping, self.metrics, app if s.mode == "http" else None,
                               gate, db_timeout=self.settings.database_timeout)
        try:  # POST /alerts/<receiver> on the same server (bot/alerts), if configured
            attach_alerts(self.settings.alerts, lambda: AlertService(
                self.settings.alerts, store=self.store, inventory=bot.inventory,
                watch=bot.watches, notifier=AlertSlack(bot), tasks=bot,
                metrics=self.metrics, capture_deadline=self.settings.capture.deadline),
                web_app)
        except AlertConfigError as e:
            await bot.stop(0)
            await session.close()
            raise ServeError(str(e)) from e
        if secret is not None:  # the pages, on the same server (bot/web/pages)
            from bot.access.links import Signer
            from bot.web.pages import attach_pages

            attach_pages(web_app, bot.services, self.settings.web, authz=bot.authz,
                         signer=Signer(secret))
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, s.http_host, s.http_port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            await bot.stop()
            await session.close()
            raise ServeError(f"cannot listen on {s.http_host}:{s.http_port}: {e.strerror}") from e
        port = runner.addresses[0][1] if runner.addresses else s.http_port
        handler = None
        if s.mode == "socket":
            handler = AsyncSocketModeHandler(app, s.app_token, web_client=client)
            _gate_socket_acks(handler, gate)
            await handler.connect_async()
        whoami = None if auth is not None else asyncio.create_task(
            _ask_until_answered(client, app), name="slack-auth-test")
        self.running = Running(bot, app, runner, port, handler, session, whoami)
        log.info("hostsnap serving (%s mode); health and metrics on %s:%d", s.mode,
                 s.http_host, port)
        return self.running

    async def _ping(self) -> None:
        await ping(self.store)

    async def stop(self) -> None:
        r, self.running = self.running, None
        if r is None:
            return
        if r.whoami is not None:
            r.whoami.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await r.whoami
        if r.socket is not None:
            with contextlib.suppress(Exception):
                await r.socket.close_async()
        await r.runner.cleanup()
        await r.bot.stop(self.settings.slack.stop_grace)
        await r.session.close()


def _web_secret(settings: Settings) -> bytes | None:
    """[web]'s signing secret when the pages are on (base_url set), else None."""
    if not settings.web.base_url:
        return None
    try:
        return settings.web.secret()
    except WebConfigError as e:
        raise ServeError(str(e)) from e


#: auth.test retried every this many seconds, doubling up to AUTH_RETRY_MAX_S
AUTH_RETRY_S = 1.0
AUTH_RETRY_MAX_S = 60.0


def _provisional_auth(client: AsyncWebClient) -> AsyncSlackResponse:
    """An auth.test answer with nothing but ok: Bolt then authorizes requests
    with the bot token (team and bot user unknown until Slack answers)."""
    return AsyncSlackResponse(client=client, http_verb="POST", api_url="auth.test",
                              req_args={}, data={"ok": True}, headers={}, status_code=200)


async def _ask_until_answered(client: AsyncWebClient, app: AsyncApp) -> None:
    """Slack was unreachable at start-up: its auth.test answer replaces the
    provisional one once it comes (the token refused: logged, kept trying)."""
    delay = AUTH_RETRY_S
    while True:
        await asyncio.sleep(delay)
        try:
            auth = await client.auth_test()
        except SlackApiError as e:
            log.error("Slack refuses the bot token: %s", e.response.get("error"))
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            log.debug("Slack still unreachable: %s", e)
        else:
            set_auth(app, auth)
            log.info("connected to Slack as %s in %s", auth.get("user"), auth.get("team"))
            return
        delay = min(delay * 2, AUTH_RETRY_MAX_S)


def _gate_socket_acks(handler: AsyncSocketModeHandler, gate: AckGate) -> None:
    """Envelope in, ack out on the socket: timed, and work waits for it."""
    inner = handler.handle

    async def gated(client, req):  # type: ignore[no-untyped-def]
        with gate.acking("socket"):
            await inner(client, req)

    handler.client.socket_mode_request_listeners[:] = [gated]


def settle_heap() -> None:
    """Everything loaded so far (SQLAlchemy, Bolt, pydantic models...) lives as
    long as the process: keep it out of the cyclic GC. Without this a full
    collection walks it all and stops the event loop for ~140 ms every few
    seconds under load, right through the 3 s ack budget (benchmarks/README.md);
    the bigger the heap, the longer (400 ms measured with 2 M objects)."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, stop: asyncio.Event,
                on_ready: Callable[[Running], None] | None = None) -> None:
    store = await open_store(settings)
    service = SlackService(settings, store)
    try:
        running = await service.start()
        settle_heap()
        if on_ready is not None:
            on_ready(running)
        await stop.wait()
    finally:
        await service.stop()
        await store.close()
