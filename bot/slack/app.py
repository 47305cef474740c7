"""The slack-bolt AsyncApp: turns Slack requests (slash command, button
click, app_mention event) into calls on HostsnapBot. Every listener acks
first and hands the work to a background task, so the ack never waits for a
host, the database or Slack itself."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.render.slack import ACTION_PREFIX
from bot.slack.bot import HostsnapBot, Origin

#: Events API deliveries remembered for de-duplication (Slack retries on slow acks)
SEEN_EVENTS = 1000


def build_app(bot: HostsnapBot, *, signing_secret: str | None,
              auth: AsyncSlackResponse | None = None) -> AsyncApp:
    """`signing_secret` None: Socket Mode, where requests are not signed.
    `auth`: the auth.test answer got at start-up."""
    app = AsyncApp(
        client=bot.api.client,
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        # our own "Capturing …" messages never mention us, but other bots might
        ignoring_self_events_enabled=True,
        name="hostsnap",
    )
    if auth is not None:
        set_auth(app, auth)
    seen: OrderedDict[str, None] = OrderedDict()

    @app.command(bot.slack.command)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        origin = Origin(user=body["user_id"], channel=body["channel_id"], source="command",
                        response_url=body.get("response_url"))
        bot.spawn(bot.on_text(origin, body.get("text") or ""), "slack-command")

    @app.action(re.compile("^" + re.escape(ACTION_PREFIX)))
    async def on_action(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        msg_ts = container.get("message_ts") or message.get("ts")
        thread = container.get("thread_ts") or message.get("thread_ts")
        if thread == msg_ts:  # a thread's parent carries its own ts as thread_ts
            thread = None
        origin = Origin(user=body["user"]["id"], channel=channel, thread_ts=thread or msg_ts,
                        source="button", message_thread_ts=thread,
                        response_url=body.get("response_url"))
        bot.spawn(bot.on_action(origin, action["action_id"], str(action.get("value", ""))),
                  "slack-button")

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any],
                         request: AsyncBoltRequest) -> None:
        # Events are acked by Bolt before this runs. Slack redelivers an event
        # it thinks was not acked in time: never capture twice for one mention.
        retry = request.headers.get("x-slack-retry-num") or ["0"]
        if retry[0] not in ("", "0"):  # Socket Mode says retry_attempt 0 for the first try
            return
        event_id = str(body.get("event_id") or event.get("ts"))
        if event_id in seen:
            return
        seen[event_id] = None
        while len(seen) > SEEN_EVENTS:
            seen.popitem(last=False)
        if event.get("bot_id") or not event.get("user"):
            return
        origin = Origin(user=event["user"], channel=event["channel"],
                        thread_ts=event.get("thread_ts") or event["ts"], source="mention")
        bot.spawn(bot.on_text(origin, event.get("text") or ""), "slack-mention")

    return app


def set_auth(app: AsyncApp, auth: AsyncSlackResponse) -> None:
    """Bolt calls auth.test on the first request and caches it: that first ack
    would wait for Slack, and fail (500) if the Web API is down at that moment."""
    for mw in app._async_middleware_list:
        if isinstance(mw, AsyncSingleTeamAuthorization):
            mw.auth_test_result = auth
