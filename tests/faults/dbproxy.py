"""A TCP proxy on loopback in front of PostgreSQL that a test can freeze:
`freeze_new` accepts connections and never forwards them (a database that
accepts and never answers), `freeze_all` also stops forwarding on the open
ones (a connection that freezes), `resume` forwards again (held bytes flow
on). Every wait is bounded; `close` drops every connection."""

from __future__ import annotations

import asyncio
import contextlib
from enum import Enum
from typing import Any

#: bytes read at once from either side
CHUNK = 64 * 1024


class Mode(Enum):
    PASS = "pass"
    FREEZE_NEW = "freeze-new"
    FREEZE_ALL = "freeze-all"


class DbProxy:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.mode = Mode.PASS
        self.port = 0
        #: freeze_all() as the client sends these bytes (a statement's text),
        #: before they are forwarded: a stall in the middle of a command
        self.freeze_on: bytes | None = None
        self._closed = False
        #: set while bytes may flow on connections opened before a freeze
        self._flowing = asyncio.Event()
        self._flowing.set()
        #: set while new connections may reach the upstream
        self._accepting = asyncio.Event()
        self._accepting.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> DbProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, pg_url: str) -> str:
        """`pg_url` (postgresql://user@127.0.0.1:5432/db) through the proxy."""
        head, db = pg_url.rsplit("/", 1)
        user = head.split("//", 1)[1].split("@", 1)[0]
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def freeze_new(self) -> None:
        """New connections hang; the open ones are dropped (a database that
        restarted and now accepts without answering): a pool must reconnect."""
        self.mode = Mode.FREEZE_NEW
        self._accepting.clear()
        for w in list(self._writers):
            w.transport.abort()

    def freeze_all(self) -> None:
        self.mode = Mode.FREEZE_ALL
        self._accepting.clear()
        self._flowing.clear()

    def resume(self) -> None:
        self.mode = Mode.PASS
        self._accepting.set()
        self._flowing.set()

    async def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._accepting.set()  # waiters wake up, see the connection gone, end
        self._flowing.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()

    async def _serve(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(cw)
        try:
            await self._accepting.wait()  # freeze-new: accepted, never answered
            if self._closed or cw.transport.is_closing():
                return
            ur, uw = await asyncio.open_connection(*self.upstream)
            self._writers.add(uw)
            await asyncio.gather(self._pipe(cr, uw, client=True), self._pipe(ur, cw))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            cw.transport.abort()
            self._writers.discard(cw)
            self._tasks.discard(task)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter,
                    client: bool = False) -> None:
        try:
            while data := await r.read(CHUNK):
                if client and self.freeze_on is not None and self.freeze_on in data:
                    self.freeze_on = None
                    self.freeze_all()
                await self._flowing.wait()  # freeze-all: held until resume
                w.write(data)
                await w.drain()
        finally:
            w.transport.abort()
            self._writers.discard(w)
