"""The control socket of `hostsnap watch`: other hostsnap commands on this
machine capture through its warm sessions.

Newline-delimited JSON on a unix socket in a 0700 directory (only this user):
  {"op": "status"}                         -> {"hosts": [...], "pool": {...}}
  {"op": "capture", "hosts": [...], ...}   -> {"event": ...}* then {"outcomes": [...]}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from platformdirs import user_runtime_dir

from bot.inventory import Inventory, InventoryError, InventoryHost
from bot.watch.sessions import SessionPool

MAX_REQUEST = 64 * 1024


class Outcome(Protocol):
    host: str
    error: str | None
    joined: bool

    @property
    def snapshot_id(self) -> str | None: ...


class Captures(Protocol):
    """The capture use case, as the socket needs it (the capture domain
    implements it; watch sits below capture and does not import it)."""

    inventory: Inventory
    pool: SessionPool

    async def capture_many(self, hosts: list[InventoryHost], *, trigger: str = ...,
                           actor: str = ..., collectors: list[str] | None = ...,
                           on_progress: Callable[[Any], Awaitable[None]] | None = ...,
                           ) -> Sequence[Outcome]: ...


def socket_path() -> Path:
    env = os.environ.get("HOSTSNAP_WATCH_SOCKET")
    if env:
        return Path(env)
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(user_runtime_dir("hostsnap")) / "watch.sock"
    # no per-user runtime dir (root over plain ssh, cron): a private dir in /tmp
    return Path(f"/tmp/hostsnap-{os.getuid()}") / "watch.sock"


class WatchServer:
    def __init__(self, service: Captures, path: Path | None = None) -> None:
        self.service = service
        self.path = path or socket_path()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.parent.stat().st_uid != os.getuid():
            raise RuntimeError(f"{self.path.parent} belongs to another user; refusing to "
                               "put the control socket there")
        os.chmod(self.path.parent, 0o700)
        if self.path.exists():
            if await _alive(self.path):
                raise RuntimeError(f"another `hostsnap watch` is running ({self.path})")
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path),
                                                       limit=MAX_REQUEST)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def status(self) -> list[dict[str, Any]]:
        return self.service.pool.status()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def send(doc: dict[str, Any]) -> None:
            writer.write(json.dumps(doc).encode() + b"\n")
            await writer.drain()

        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            req = json.loads(line or b"{}")
            if req.get("op") == "status":
                await send({"hosts": self.status(),
                            "pool": self.service.pool.pool_status()})
            elif req.get("op") == "capture":
                await self._capture(req, send)
            else:
                await send({"error": "unknown op"})
        except (ValueError, TimeoutError, asyncio.LimitOverrunError) as e:
            with contextlib.suppress(ConnectionError):
                await send({"error": f"bad request: {e}"})
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _capture(self, req: dict[str, Any], send: Any) -> None:
        svc = self.service
        try:
            hosts = svc.inventory.resolve([str(h) for h in req.get("hosts", [])])
        except InventoryError as e:
            await send({"error": str(e)})
            return

        async def progress(ev: Any) -> None:  # a capture ProgressEvent (dataclass)
            with contextlib.suppress(ConnectionError):
                await send({"event": ev.__dict__})

        outcomes = await svc.capture_many(
            hosts, trigger=str(req.get("trigger", "cli")), actor=str(req.get("actor", "")),
            collectors=req.get("collectors"), on_progress=progress,
        )
        await send({"outcomes": [
            {"host": o.host, "snapshot_id": o.snapshot_id,
             "error": o.error, "joined": o.joined} for o in outcomes]})


async def _alive(path: Path) -> bool:
    try:
        _, w = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1)
    except (OSError, TimeoutError):
        return False
    w.close()
    return True


async def request(doc: dict[str, Any],
                  on_event: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
                  path: Path | None = None, timeout: float = 120.0) -> dict[str, Any] | None:
    """Talk to a running `hostsnap watch`; None when there is none. Progress
    events reach `on_event` as the capture's ProgressEvent fields."""
    p = path or socket_path()
    if not p.exists():
        return None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(p), limit=16 * 1024 * 1024), 2)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(json.dumps(doc).encode() + b"\n")
        await writer.drain()
        async with asyncio.timeout(timeout):
            while True:
                line = await reader.readline()
                if not line:
                    return {"error": "watch daemon closed the connection"}
                msg = json.loads(line)
                if "event" in msg:
                    if on_event is not None:
                        await on_event(msg["event"])
                    continue
                return dict(msg)
    finally:
        writer.close()
