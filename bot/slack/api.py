"""The Slack Web API calls hostsnap makes, with the failure modes sorted out.

Two kinds of failure matter to the callers: Slack is unreachable or
overloaded (`SlackUnavailable`: keep the message and deliver it later), or
Slack refused the call (`SlackRejected`: not_in_channel, invalid_blocks — a
retry would fail the same way). 429s are retried inside the client, honouring
Retry-After, before anyone sees them. New top-level messages go through a
per-channel pacer (Slack allows about one message per second per channel,
with short bursts).

Every text that leaves for Slack passes here. Blocks arrive built by
bot/render with data escaped and redacted where it was interpolated; the
plain texts (a message's fallback `text`, which notifications show and Slack
parses for mentions, ephemeral explanations that echo what the user typed,
upload comments) are escaped and redacted here, in one place: `_plain`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.metrics import Metrics
from bot.redact import redact
from bot.render.slack import Message, esc
from bot.settings.slack import SlackSettings

log = logging.getLogger(__name__)

# ok=false errors that mean "Slack is having trouble", not "your call is wrong"
TRANSIENT = frozenset({"ratelimited", "service_unavailable", "fatal_error", "internal_error",
                       "request_timeout"})


class SlackUnavailable(Exception):
    """Slack could not be reached, or answered 5xx / 429 after the retries."""


class SlackRejected(Exception):
    """Slack answered ok=false for a reason a retry will not fix."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


def make_session(s: SlackSettings) -> aiohttp.ClientSession:
    """The one HTTP session for Slack. slack_sdk ignores its own `timeout` when
    handed a session, and aiohttp's default is 300 s: the bound must be here,
    or a frozen Slack holds every call (and the message behind it) for minutes."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.api_timeout))


def make_client(s: SlackSettings, session: aiohttp.ClientSession | None = None
                ) -> AsyncWebClient:
    base = s.api_base_url if s.api_base_url.endswith("/") else s.api_base_url + "/"
    return AsyncWebClient(
        token=s.bot_token, base_url=base, timeout=s.api_timeout, session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=s.rate_limit_retries),
            AsyncServerErrorRetryHandler(max_retry_count=1),
        ],
    )


class Pacer:
    """Per channel: `burst` messages at once, then one per `interval` (GCRA:
    a theoretical arrival time per channel, no background task)."""

    def __init__(self, burst: int, interval: float) -> None:
        self.burst = burst
        self.interval = interval
        self._tat: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        if self.interval <= 0:
            return
        now = time.monotonic()
        tat = max(self._tat.get(channel, now), now)
        self._tat[channel] = tat + self.interval  # reserved before sleeping: no lock needed
        delay = tat - now - (self.burst - 1) * self.interval
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class Upload:
    filename: str
    content: bytes
    title: str


def _plain(text: str) -> str:
    """A plain text as Slack must receive it: redacted, `&<>` escaped, so
    `<!channel>` in a host's error or a typed argument reaches nobody."""
    return esc(text)


class SlackApi:
    def __init__(self, client: AsyncWebClient, settings: SlackSettings, metrics: Metrics) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.pacer = Pacer(settings.post_burst, settings.post_interval)

    async def _call(self, method: str, call: Awaitable[AsyncSlackResponse]) -> dict[str, Any]:
        try:
            resp = await call
        except SlackApiError as e:
            status = e.response.status_code
            error = str(e.response.get("error", "") or status)
            if status >= 500 or status == 429 or error in TRANSIENT:
                self._count(method, "unavailable")
                raise SlackUnavailable(f"{method}: Slack answered {status} {error}") from e
            self._count(method, "rejected")
            raise SlackRejected(method, error) from e
        except (aiohttp.ClientError, TimeoutError, OSError, SlackClientError) as e:
            self._count(method, "unavailable")
            raise SlackUnavailable(f"{method}: {type(e).__name__}: {e}") from e
        self._count(method, "ok")
        return resp.data if isinstance(resp.data, dict) else {}

    def _count(self, method: str, outcome: str) -> None:
        self.metrics.inc("hostsnap_slack_api_calls_total", method=method, outcome=outcome)

    async def post(self, channel: str, msg: Message, *, thread_ts: str | None = None) -> str:
        """Returns the new message's ts."""
        if thread_ts is None:
            await self.pacer.wait(channel)
        data = await self._call("chat.postMessage", self.client.chat_postMessage(
            channel=channel, text=_plain(msg.text), blocks=msg.blocks, thread_ts=thread_ts,
            unfurl_links=False, unfurl_media=False))
        return str(data["ts"])

    async def update(self, channel: str, ts: str, msg: Message) -> None:
        await self._call("chat.update", self.client.chat_update(
            channel=channel, ts=ts, text=_plain(msg.text), blocks=msg.blocks))

    async def ephemeral(self, channel: str, user: str, text: str, *,
                        thread_ts: str | None = None, response_url: str | None = None,
                        mrkdwn: bool = False) -> bool:
        """Best effort: an explanation that cannot be delivered is logged.
        chat.postEphemeral needs the bot in the channel; a slash command's or
        a click's response_url does not, so it is the fallback. `text` is
        plain: it often echoes what the user typed; `mrkdwn`: it is markup
        its renderer escaped (a link)."""
        text = text if mrkdwn else _plain(text)
        try:
            await self._call("chat.postEphemeral", self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts))
            return True
        except SlackRejected as e:
            if response_url and await self._respond(response_url, text):
                return True
            log.warning("could not tell %s in %s: %s (%s)", user, channel, text, e)
        except SlackUnavailable as e:
            log.warning("could not tell %s in %s: %s (%s)", user, channel, text, e)
        return False

    async def _respond(self, response_url: str, text: str) -> bool:
        hook = AsyncWebhookClient(response_url, timeout=self.settings.api_timeout,
                                  session=self.client.session)
        try:
            r = await hook.send(text=text, response_type="ephemeral", replace_original=False)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            self._count("response_url", "unavailable")
            log.warning("response_url failed: %s", e)
            return False
        self._count("response_url", "ok" if r.status_code == 200 else "rejected")
        return r.status_code == 200

    async def upload(self, channel: str, thread_ts: str | None, files: list[Upload],
                     comment: str) -> None:
        """files_upload_v2: getUploadURLExternal, upload, completeUploadExternal."""
        await self._call("files_upload_v2", self.client.files_upload_v2(
            file_uploads=[{"filename": redact(f.filename), "content": f.content,
                           "title": redact(f.title)} for f in files],
            channel=channel, thread_ts=thread_ts, initial_comment=_plain(comment)))

    async def usergroup_members(self, usergroup: str) -> set[str]:
        data = await self._call("usergroups.users.list",
                                self.client.usergroups_users_list(usergroup=usergroup))
        return set(data.get("users") or [])

    async def auth_test(self) -> dict[str, Any]:
        return await self._call("auth.test", self.client.auth_test())
