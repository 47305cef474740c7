"""A small SFTP v3 client that batches: every request made in one event-loop
iteration goes out in one channel write, and replies are parsed in bulk.

Why not asyncssh's SFTPClient: it sends each request as its own SSH packet
(its own encryption and syscall), about 0.7 ms of CPU per /proc file read —
a 300-process host cost 0.25 s of CPU, twenty hosts five seconds. Here a
file costs tens of microseconds. Only what hostsnap needs is implemented.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import asyncssh

# packet types
INIT, VERSION, OPEN, CLOSE, READ, WRITE = 1, 2, 3, 4, 5, 6
OPENDIR, READDIR, REMOVE, STAT, READLINK = 11, 12, 13, 17, 19
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
# open flags
F_READ, F_WRITE, F_CREAT, F_TRUNC = 0x1, 0x2, 0x8, 0x10
# status codes
OK, EOF, NO_SUCH_FILE, PERMISSION_DENIED = 0, 1, 2, 3

_u32 = struct.Struct(">I")
_u64 = struct.Struct(">Q")


class SFTPStatus(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (status {code})")
        self.code = code


class SFTPClosed(Exception):
    pass


def _s(b: bytes) -> bytes:
    return _u32.pack(len(b)) + b


def _attrs_size(buf: bytes, pos: int) -> tuple[int | None, int]:
    """Skip an ATTRS structure; returns (size or None, new position)."""
    flags = _u32.unpack_from(buf, pos)[0]
    pos += 4
    size = None
    if flags & 0x1:
        size = _u64.unpack_from(buf, pos)[0]
        pos += 8
    if flags & 0x2:
        pos += 8
    if flags & 0x4:
        pos += 4
    if flags & 0x8:
        pos += 8
    if flags & 0x80000000:
        count = _u32.unpack_from(buf, pos)[0]
        pos += 4
        for _ in range(count * 2):
            n = _u32.unpack_from(buf, pos)[0]
            pos += 4 + n
    return size, pos


class _Session(asyncssh.SSHClientSession[bytes]):
    def __init__(self, client: RawSFTP) -> None:
        self.client = client

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.client._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(exc)


class RawSFTP:
    def __init__(self) -> None:
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._version: asyncio.Future[int] | None = None
        self._closed: BaseException | None = None

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection) -> RawSFTP:
        self = cls()
        chan, _ = await conn.create_session(lambda: _Session(self), subsystem="sftp",
                                            encoding=None)
        self._chan = chan
        self._version = asyncio.get_running_loop().create_future()
        chan.write(_s(bytes([INIT]) + _u32.pack(3)))
        await asyncio.wait_for(self._version, 10)
        return self

    # -- wire --------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 5:
            length = _u32.unpack_from(buf, pos)[0]
            if n - pos - 4 < length:
                break
            ptype = buf[pos + 4]
            body = bytes(buf[pos + 5:pos + 4 + length])
            pos += 4 + length
            if ptype == VERSION:
                if self._version is not None and not self._version.done():
                    self._version.set_result(_u32.unpack_from(body, 0)[0])
                continue
            rid = _u32.unpack_from(body, 0)[0]
            fut = self._pending.pop(rid, None)
            if fut is not None and not fut.done():
                fut.set_result((ptype, body))
        del buf[:pos]

    def _lost(self, exc: Exception | None) -> None:
        self._closed = exc or SFTPClosed("SFTP session closed")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SFTPClosed(str(self._closed)))
        self._pending.clear()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._chan is not None and self._closed is None:
            self._chan.write(b"".join(self._out))
        self._out.clear()

    def _send(self, ptype: int, payload: bytes, want_reply: bool = True
              ) -> asyncio.Future[tuple[int, bytes]] | None:
        if self._closed is not None:
            raise SFTPClosed(str(self._closed))
        rid = self._next_id
        self._next_id = (rid + 1) & 0xFFFFFFFF or 1
        body = bytes([ptype]) + _u32.pack(rid) + payload
        self._out.append(_u32.pack(len(body)) + body)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if not want_reply:
            # the id still has to be consumed when its reply arrives
            fut_ignored: asyncio.Future[tuple[int, bytes]] = (
                asyncio.get_running_loop().create_future())
            self._pending[rid] = fut_ignored
            return None
        fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        return fut

    async def _call(self, ptype: int, payload: bytes) -> tuple[int, bytes]:
        fut = self._send(ptype, payload)
        assert fut is not None
        return await fut

    @staticmethod
    def _status(body: bytes) -> SFTPStatus:
        code = _u32.unpack_from(body, 4)[0]
        msg = b""
        if len(body) >= 12:
            n = _u32.unpack_from(body, 8)[0]
            msg = body[12:12 + n]
        return SFTPStatus(code, msg.decode(errors="replace"))

    def _expect(self, reply: tuple[int, bytes], ptype: int) -> bytes:
        t, body = reply
        if t == ptype:
            return body
        if t == STATUS:
            raise self._status(body)
        raise SFTPStatus(-1, f"unexpected SFTP reply type {t}")

    # -- operations ----------------------------------------------------------
    async def open(self, path: str, flags: int = F_READ) -> bytes:
        body = self._expect(await self._call(
            OPEN, _s(path.encode()) + _u32.pack(flags) + _u32.pack(0)), HANDLE)
        n = _u32.unpack_from(body, 4)[0]
        return body[8:8 + n]

    def close_handle(self, handle: bytes) -> None:
        """Fire and forget: nothing useful can be done with a failed close."""
        if self._closed is None:
            self._send(CLOSE, _s(handle), want_reply=False)

    async def read(self, handle: bytes, offset: int, length: int) -> bytes:
        """b"" at EOF."""
        t, body = await self._call(READ, _s(handle) + _u64.pack(offset) + _u32.pack(length))
        if t == DATA:
            n = _u32.unpack_from(body, 4)[0]
            return body[8:8 + n]
        if t == STATUS:
            err = self._status(body)
            if err.code == EOF:
                return b""
            raise err
        raise SFTPStatus(-1, f"unexpected SFTP reply type {t}")

    async def write(self, handle: bytes, offset: int, data: bytes) -> None:
        t, body = await self._call(WRITE, _s(handle) + _u64.pack(offset) + _s(data))
        err = self._status(body) if t == STATUS else SFTPStatus(-1, "bad reply")
        if err.code != OK:
            raise err

    async def stat(self, path: str) -> int | None:
        """Size (follows symlinks)."""
        body = self._expect(await self._call(STAT, _s(path.encode())), ATTRS)
        return _attrs_size(body, 4)[0]

    async def readlink(self, path: str) -> str:
        body = self._expect(await self._call(READLINK, _s(path.encode())), NAME)
        n = _u32.unpack_from(body, 8)[0]
        return body[12:12 + n].decode(errors="surrogateescape")

    async def remove(self, path: str) -> None:
        t, body = await self._call(REMOVE, _s(path.encode()))
        err = self._status(body) if t == STATUS else SFTPStatus(-1, "bad reply")
        if err.code != OK:
            raise err

    async def listdir(self, path: str) -> list[str]:
        body = self._expect(await self._call(OPENDIR, _s(path.encode())), HANDLE)
        n = _u32.unpack_from(body, 4)[0]
        handle = body[8:8 + n]
        names: list[str] = []
        try:
            while True:
                t, body = await self._call(READDIR, _s(handle))
                if t == STATUS:
                    err = self._status(body)
                    if err.code == EOF:
                        break
                    raise err
                if t != NAME:
                    raise SFTPStatus(-1, f"unexpected SFTP reply type {t}")
                count = _u32.unpack_from(body, 4)[0]
                pos = 8
                for _ in range(count):
                    ln = _u32.unpack_from(body, pos)[0]
                    names.append(body[pos + 4:pos + 4 + ln].decode(errors="surrogateescape"))
                    pos += 4 + ln
                    ln = _u32.unpack_from(body, pos)[0]  # longname
                    pos += 4 + ln
                    _, pos = _attrs_size(body, pos)
        finally:
            self.close_handle(handle)
        return [x for x in names if x not in (".", "..")]

    async def read_file(self, path: str, limit: int, chunk: int,
                        short_read_is_eof: bool) -> bytes:
        handle = await self.open(path)
        try:
            parts: list[bytes] = []
            off = 0
            while off < limit:
                try:
                    data = await self.read(handle, off, min(chunk, limit - off))
                except SFTPStatus:
                    if parts:
                        break  # keep what we have (process exited mid-read)
                    raise
                if not data:
                    break
                parts.append(data)
                off += len(data)
                if short_read_is_eof and len(data) < chunk:
                    break
            return b"".join(parts)
        finally:
            self.close_handle(handle)

    def exit(self) -> None:
        if self._chan is not None:
            self._chan.close()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def info(self) -> dict[str, Any]:
        return {"pending": len(self._pending)}
