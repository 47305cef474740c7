"""A fake Slack for end-to-end tests: an aiohttp server on 127.0.0.1 that

* speaks the Web API methods hostsnap calls (auth.test, chat.postMessage,
  chat.update, chat.postEphemeral, the files_upload_v2 flow, usergroups.users.list,
  apps.connections.open) and checks what real Slack checks: the token, the
  message ts on update, Block Kit limits (invalid_blocks), file lengths;
* records every call, and keeps a model of channels, threads, ephemerals and
  files so tests assert what a user would see;
* injects 429s (with Retry-After) and outages (connections dropped);
* sends the bot what Slack sends: slash commands, block_actions and
  app_mention events, either as signed HTTP requests (v0 HMAC-SHA256 over
  `v0:{timestamp}:{body}`) or as Socket Mode envelopes over its websocket,
  waiting for the ack either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret-0123456789abcdef"
BOT_USER = "UHOSTSNAP"
TEAM = "TFAKE"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Msg:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER
    updates: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_text(self) -> str:
        """The text a user reads: fallback text plus every text in the blocks."""
        return self.text + "\n" + "\n".join(block_texts(self.blocks))

    def buttons(self) -> list[dict[str, Any]]:
        out = []
        for b in self.blocks:
            if b.get("type") == "actions":
                out += [e for e in b["elements"] if e.get("type") == "button"]
            acc = b.get("accessory")
            if acc and acc.get("type") == "button":
                out.append(acc)
        return out

    def button(self, label: str) -> dict[str, Any]:
        for b in self.buttons():
            if b["text"]["text"] == label:
                return b
        raise AssertionError(f"no button {label!r} in {[b['text']['text'] for b in self.buttons()]}")


@dataclass
class File:
    id: str
    filename: str
    content: bytes
    title: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    comment: str = ""


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            if isinstance(e, dict) and "text" in e:
                t = e["text"]
                out.append(t["text"] if isinstance(t, dict) else t)
        for f in b.get("fields", []) or []:
            out.append(f["text"])
    return out


def check_blocks(blocks: Any) -> str | None:
    """What real Slack rejects with invalid_blocks (the limits that matter here)."""
    if not isinstance(blocks, list):
        return "blocks must be a list"
    if len(blocks) > 50:
        return f"{len(blocks)} blocks, more than 50"
    for i, b in enumerate(blocks):
        t = b.get("type")
        if t == "section":
            text = b.get("text", {}).get("text", "")
            if not text or len(text) > 3000:
                return f"block {i}: section text of {len(text)} characters (1..3000)"
        elif t == "header":
            if len(b["text"]["text"]) > 150:
                return f"block {i}: header longer than 150"
        elif t == "context":
            if not 1 <= len(b.get("elements", [])) <= 10:
                return f"block {i}: context with {len(b.get('elements', []))} elements"
            for e in b["elements"]:
                if len(e.get("text", "")) > 3000:
                    return f"block {i}: context text longer than 3000"
        elif t == "actions":
            els = b.get("elements", [])
            if not 1 <= len(els) <= 25:
                return f"block {i}: actions with {len(els)} elements"
            ids = [e.get("action_id") for e in els]
            if len(set(ids)) != len(ids):
                return f"block {i}: duplicate action_id"
        elif t == "divider":
            pass
        else:
            return f"block {i}: unexpected type {t}"
        for e in [b.get("accessory"), *(b.get("elements") or [])]:
            if isinstance(e, dict) and e.get("type") == "button":
                if len(e["text"]["text"]) > 75 or len(e.get("value", "")) > 2000:
                    return f"block {i}: button text > 75 or value > 2000"
    return None


def sign(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Ack:
    status: int
    body: Any
    elapsed: float


class FakeSlack:
    def __init__(self, *, signing_secret: str = SIGNING_SECRET) -> None:
        self.signing_secret = signing_secret
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Msg] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # posted to commands' response_url
        self.files: dict[str, File] = {}  # shared in a channel (completeUploadExternal)
        self._announced: dict[str, tuple[str, int]] = {}  # getUploadURLExternal
        self._uploaded: dict[str, File] = {}  # bytes received, not yet shared
        self.usergroups: dict[str, list[str]] = {}
        self.not_in_channels: set[str] = set()
        self.events_url: str | None = None  # the bot's /slack/events (HTTP mode)
        self.events: list[dict[str, Any]] = []  # Events API bodies sent
        self.down = False
        self._thawed = asyncio.Event()  # cleared while frozen
        self._thawed.set()
        self._rate_limits: dict[str, list[int]] = {}
        self._ts = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._socket_connected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # -- life cycle ----------------------------------------------------------------
    async def start(self) -> FakeSlack:
        app = web.Application(middlewares=[self._faults], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._websocket)
        app.router.add_post("/response/{id}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        self._thawed.set()  # let frozen requests end
        for ws in list(self._sockets):
            await ws.close()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def reset(self) -> None:
        self.calls.clear()
        self.messages.clear()
        self.ephemerals.clear()
        self.responses.clear()
        self.files.clear()
        self._rate_limits.clear()
        self.not_in_channels.clear()
        self.down = False
        self._thawed.set()

    # -- fault injection -------------------------------------------------------------
    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` get 429 with Retry-After."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def outage(self, down: bool = True) -> None:
        """While down, every Web API connection is dropped without an answer."""
        self.down = down

    def freeze(self, frozen: bool = True) -> None:
        """While frozen, every Web API request is accepted and then left
        unanswered (Slack hanging, not down), for at most 120 s."""
        if frozen:
            self._thawed.clear()
        else:
            self._thawed.set()

    def delete(self, channel: str, ts: str) -> None:
        """Someone deletes a message in Slack (chat.update then answers
        message_not_found)."""
        del self.messages[(channel, ts)]

    @web.middleware
    async def _faults(self, request: web.Request, handler: Callable[..., Any]) -> Any:
        if self.down and not request.path.startswith("/link"):
            self.calls.append(Call(request.path.rsplit("/", 1)[-1], {}, time.monotonic(), 0))
            assert request.transport is not None
            request.transport.abort()  # the client sees the connection drop
            raise web.HTTPServiceUnavailable()
        method = request.match_info.get("method", "")
        if not self._thawed.is_set() and not request.path.startswith("/link"):
            self.calls.append(Call(method, {}, time.monotonic(), 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._thawed.wait(), 120)
        queue = self._rate_limits.get(method)
        if queue:
            retry_after = queue.pop(0)
            self.calls.append(Call(method, {}, time.monotonic(), 429))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        return await handler(request)

    # -- Web API ---------------------------------------------------------------------
    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(dict(await request.post()))
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        self.calls.append(Call(method, args, time.monotonic()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        want = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != want:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        fn = getattr(self, "api_" + method.replace(".", "_"), None)
        if fn is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        return web.json_response(await fn(args))

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "hostsnap",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": "BHOSTSNAP"}

    def _message_args(self, args: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | str:
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if blocks and (why := check_blocks(blocks)):
            return f"invalid_blocks: {why}"
        text = args.get("text") or ""
        if not text and not blocks:
            return "no_text"
        return blocks, text

    async def api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        if not channel or channel in self.not_in_channels:
            return {"ok": False, "error": "not_in_channel" if channel else "channel_not_found"}
        parsed = self._message_args(args)
        if isinstance(parsed, str):
            return {"ok": False, "error": parsed.split(":")[0], "detail": parsed}
        blocks, text = parsed
        thread_ts = args.get("thread_ts") or None
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        m = Msg(channel, self._next_ts(), text, blocks, thread_ts)
        self.messages[(channel, m.ts)] = m
        return {"ok": True, "channel": channel, "ts": m.ts,
                "message": {"text": text, "ts": m.ts, "blocks": blocks}}

    async def api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        m = self.messages.get((args.get("channel", ""), args.get("ts", "")))
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        parsed = self._message_args(args)
        if isinstance(parsed, str):
            return {"ok": False, "error": parsed.split(":")[0], "detail": parsed}
        m.history.append({"text": m.text, "blocks": m.blocks})
        m.blocks, m.text = parsed
        m.updates += 1
        return {"ok": True, "channel": m.channel, "ts": m.ts, "text": m.text}

    async def api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel") in self.not_in_channels:
            return {"ok": False, "error": "not_in_channel"}
        self.ephemerals.append(args)
        return {"ok": True, "message_ts": self._next_ts()}

    async def api_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    async def api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(args["length"])
        except (KeyError, ValueError):
            return {"ok": False, "error": "invalid_arguments"}
        fid = "F" + uuid.uuid4().hex[:10].upper()
        self._announced[fid] = (args.get("filename", ""), length)
        return {"ok": True, "file_id": fid,
                "upload_url": f"http://127.0.0.1:{self.port}/upload/{fid}"}

    async def _upload(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        if fid not in self._announced:
            return web.Response(status=404, text="no such upload")
        filename, length = self._announced[fid]
        content = await request.read()
        if len(content) != length:
            return web.Response(status=400, text=f"length {len(content)} != {length}")
        self._uploaded[fid] = File(fid, filename, content)
        return web.Response(text="OK - " + str(len(content)))

    async def api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        items = json.loads(items) if isinstance(items, str) else items
        out = []
        for it in items or []:
            f = self._uploaded.pop(it.get("id", ""), None)
            if f is None:  # announced but never uploaded, or unknown
                return {"ok": False, "error": "file_not_found"}
            self.files[f.id] = f
            f.title = it.get("title") or f.filename
            f.channel = args.get("channel_id") or args.get("channels")
            f.thread_ts = args.get("thread_ts") or None
            f.comment = args.get("initial_comment") or ""
            out.append({"id": f.id, "name": f.filename, "title": f.title})
        return {"ok": True, "files": out}

    async def api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link?ticket={uuid.uuid4()}"}

    async def _response_url(self, request: web.Request) -> web.Response:
        """A command's response_url: works whether or not the bot is in the channel."""
        self.responses.append({"id": request.match_info["id"], **await request.json()})
        return web.Response(text="ok")

    # -- Socket Mode -------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "AHOSTSNAP"}})
        self._socket_connected.set()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                fut = self._acks.pop(data.get("envelope_id", ""), None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self._socket_connected.clear()
        return ws

    async def wait_socket(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._socket_connected.wait(), timeout)

    async def _envelope(self, kind: str, payload: dict[str, Any], timeout: float,
                        retry_attempt: int = 0) -> Ack:
        await self.wait_socket(timeout)
        eid = str(uuid.uuid4())
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[eid] = fut
        t0 = time.perf_counter()
        await self._sockets[-1].send_json({
            "envelope_id": eid, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else ""})
        ack = await asyncio.wait_for(fut, timeout)
        return Ack(200, ack.get("payload"), time.perf_counter() - t0)

    # -- sending to the bot ----------------------------------------------------------------
    def signed_headers(self, body: str, content_type: str, *, secret: str | None = None,
                       timestamp: int | None = None, retry_num: int | None = None
                       ) -> dict[str, str]:
        """The headers Slack sends with a request to /slack/events."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": sign(secret or self.signing_secret, ts, body)}
        if retry_num is not None:  # Slack's redelivery of an event it thinks was lost
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return headers

    async def _http(self, body: str, content_type: str, timeout: float, **kw: Any) -> Ack:
        assert self.events_url and self._session
        headers = self.signed_headers(body, content_type, **kw)
        t0 = time.perf_counter()
        async with self._session.post(self.events_url, data=body.encode(), headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            text = await r.text()
            elapsed = time.perf_counter() - t0
            try:
                parsed: Any = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return Ack(r.status, parsed, elapsed)

    async def command(self, text: str, *, user: str = "U1", channel: str = "C1",
                      command: str = "/snapshot", via: str = "http", timeout: float = 5.0,
                      **http_kw: Any) -> Ack:
        """A slash command as Slack sends it; returns the bot's ack."""
        payload = self.slash_payload(text, user=user, channel=channel, command=command)
        if via == "socket":
            return await self._envelope("slash_commands", payload, timeout)
        return await self._http(urlencode(payload), "application/x-www-form-urlencoded",
                                timeout, **http_kw)

    def slash_payload(self, text: str, *, user: str = "U1", channel: str = "C1",
                      command: str = "/snapshot") -> dict[str, str]:
        return {
            "token": "legacy", "team_id": TEAM, "team_domain": "fake", "channel_id": channel,
            "channel_name": channel.lower(), "user_id": user, "user_name": user.lower(),
            "command": command, "text": text, "api_app_id": "AHOSTSNAP",
            "is_enterprise_install": "false",
            "response_url": f"http://127.0.0.1:{self.port}/response/{uuid.uuid4().hex}",
            "trigger_id": f"{next(self._ts)}.trigger",
        }

    async def click(self, msg: Msg, label: str, *, user: str = "U1", via: str = "http",
                    timeout: float = 5.0) -> Ack:
        """A click on the button `label` of a message the bot posted."""
        b = msg.button(label)
        message: dict[str, Any] = {"type": "message", "user": msg.user, "ts": msg.ts,
                                   "text": msg.text, "blocks": msg.blocks}
        container: dict[str, Any] = {"type": "message", "message_ts": msg.ts,
                                     "channel_id": msg.channel, "is_ephemeral": False}
        if msg.thread_ts:
            message["thread_ts"] = container["thread_ts"] = msg.thread_ts
        elif self.replies(msg.channel, msg.ts):
            message["thread_ts"] = msg.ts  # a parent with replies carries its own ts
        payload = {
            "type": "block_actions", "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "AHOSTSNAP", "token": "legacy", "container": container,
            "trigger_id": f"{next(self._ts)}.trigger", "channel": {"id": msg.channel},
            "message": message, "response_url": f"http://127.0.0.1:{self.port}/response/x",
            "actions": [{"type": "button", "action_id": b["action_id"],
                         "block_id": "b", "value": b.get("value", ""),
                         "text": b["text"], "action_ts": str(time.time())}],
        }
        if via == "socket":
            return await self._envelope("interactive", payload, timeout)
        return await self._http(urlencode({"payload": json.dumps(payload)}),
                                "application/x-www-form-urlencoded", timeout)

    async def mention(self, words: str, *, user: str = "U1", channel: str = "C1",
                      thread_ts: str | None = None, via: str = "http",
                      timeout: float = 5.0) -> tuple[Ack, Msg]:
        """A user posts `@hostsnap words` (in a thread when thread_ts is given)."""
        m = Msg(channel, self._next_ts(), f"<@{BOT_USER}> {words}", [], thread_ts, user=user)
        self.messages[(channel, m.ts)] = m
        event = {"type": "app_mention", "user": user, "text": m.text, "ts": m.ts,
                 "channel": channel, "event_ts": m.ts}
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = {"token": "legacy", "team_id": TEAM, "api_app_id": "AHOSTSNAP", "event": event,
                "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()), "authorizations": [
                    {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}
        self.events.append(body)
        if via == "socket":
            return await self._envelope("events_api", body, timeout), m
        return await self._http(json.dumps(body), "application/json", timeout), m

    async def redeliver(self, body: dict[str, Any], *, retry_num: int | None = 1,
                        via: str = "http", timeout: float = 5.0) -> Ack:
        """Send an event again, as Slack does when it did not see the ack in time
        (with X-Slack-Retry-Num / retry_attempt), or as a duplicate (retry_num None)."""
        if via == "socket":
            return await self._envelope("events_api", body, timeout, retry_num or 0)
        return await self._http(json.dumps(body), "application/json", timeout,
                                retry_num=retry_num)

    # -- what users see --------------------------------------------------------------------
    def bot_messages(self, channel: str = "C1") -> list[Msg]:
        return [m for (c, _), m in sorted(self.messages.items())
                if c == channel and m.user == BOT_USER]

    def top_level(self, channel: str = "C1") -> list[Msg]:
        return [m for m in self.bot_messages(channel) if m.thread_ts is None]

    def replies(self, channel: str, thread_ts: str) -> list[Msg]:
        return [m for (c, _), m in sorted(self.messages.items())
                if c == channel and m.thread_ts == thread_ts]

    def files_in(self, channel: str, thread_ts: str | None) -> list[File]:
        return [f for f in self.files.values() if f.channel == channel
                and f.thread_ts == thread_ts]

    def ephemerals_for(self, user: str) -> list[str]:
        return [e["text"] for e in self.ephemerals if e.get("user") == user]

    def calls_of(self, method: str, status: int | None = 200) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and (status is None or c.status == status)]

    async def wait_for(self, cond: Callable[[], Any], timeout: float = 10.0,
                       what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)
