"""A tiny HTTP/1.1 client over an already open stream pair.

Over SSH the stream is a forwarded channel (direct-tcpip to a pprof port,
direct-streamlocal to docker.sock), so no HTTP library that opens its own
sockets fits. One request per stream, `Connection: close`; the body is read
through Content-Length, chunked encoding or until EOF, and never beyond
`max_body` bytes: a response that is larger is returned cut, marked
`truncated`, and the stream is closed (the evidence so far is kept). With a
`timeout`, the head must arrive in time (else TimeoutError) and a body still
coming at the limit is returned cut the same way: a dump that trickles out of
a struggling service is still evidence.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

READ_CHUNK = 64 * 1024
MAX_HEADER = 64 * 1024


class HTTPError(Exception):
    """The peer did not speak HTTP/1.x, or closed mid-message before any body."""


class StreamReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class StreamWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    #: why the body is incomplete: "size" (max_body), "time" (timeout), "peer" (closed
    #: early), or "" when it is whole
    truncated_by: str = ""
    #: the same for users, with the numbers
    truncated_reason: str = ""

    @property
    def truncated(self) -> bool:
        return bool(self.truncated_by)

    def cut(self, by: str, reason: str) -> None:
        self.truncated_by, self.truncated_reason = by, reason

    def json(self) -> Any:
        return json.loads(self.body)


class _Buffered:
    """Reads in large chunks and hands out lines and byte runs; asyncio and
    asyncssh readers differ in readline limits, so only read(n) is used."""

    def __init__(self, reader: StreamReader, deadline: float | None = None) -> None:
        self._r = reader
        self._buf = bytearray()
        self.eof = False
        self.deadline = deadline  # loop.time()
        self.timed_out = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        if self.deadline is None:
            data = await self._r.read(READ_CHUNK)
        else:
            try:
                left = self.deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError
                data = await asyncio.wait_for(self._r.read(READ_CHUNK), left)
            except TimeoutError:
                self.timed_out = self.eof = True
                return False
        if not data:
            self.eof = True
            return False
        self._buf += data
        return True

    async def until(self, sep: bytes, limit: int) -> bytes | None:
        """Bytes up to and including `sep`; None at EOF first. Raises HTTPError
        when `sep` does not appear within `limit` bytes."""
        start = 0
        while True:
            i = self._buf.find(sep, start)
            if i >= 0:
                out = bytes(self._buf[: i + len(sep)])
                del self._buf[: i + len(sep)]
                return out
            if len(self._buf) > limit:
                raise HTTPError(f"no {sep!r} within {limit} bytes")
            start = max(0, len(self._buf) - len(sep) + 1)
            if not await self._fill():
                return None

    async def take(self, n: int) -> bytes:
        """Up to n bytes (fewer only at EOF)."""
        while len(self._buf) < n and await self._fill():
            pass
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def some(self, n: int) -> bytes:
        """At most n bytes, whatever is available; b"" at EOF."""
        if not self._buf:
            await self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def _request_bytes(method: str, target: str, host: str, headers: dict[str, str] | None) -> bytes:
    if any(c in target for c in " \r\n") or any(c in host for c in " \r\n"):
        raise ValueError("request target and host must not contain spaces or newlines")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close",
             "Accept-Encoding: identity", "User-Agent: hostsnap"]
    for k, v in (headers or {}).items():
        if any(c in k + v for c in "\r\n"):
            raise ValueError("header names and values must not contain newlines")
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def request(
    reader: StreamReader, writer: StreamWriter, method: str, target: str, *,
    host: str = "localhost", headers: dict[str, str] | None = None,
    max_body: int = 16 * 1024 * 1024, timeout: float | None = None,
) -> Response:
    """Send one request and read its response; always closes the writer."""
    loop = asyncio.get_running_loop()
    try:
        writer.write(_request_bytes(method, target, host, headers))
        await writer.drain()
        buf = _Buffered(reader, None if timeout is None else loop.time() + timeout)
        resp = await _read_head(buf)
        await _read_body(buf, resp, max_body, head_only=method == "HEAD")
        if buf.timed_out:  # only set when more was needed: the body is incomplete
            resp.cut("time", f"time limit reached: {len(resp.body)} bytes in {timeout:.1f}s")
        return resp
    finally:
        writer.close()


async def _read_head(buf: _Buffered) -> Response:
    while True:
        head = await buf.until(b"\r\n\r\n", MAX_HEADER)
        if head is None and buf.timed_out:
            raise TimeoutError("no response in time")
        if head is None:
            raise HTTPError("connection closed before a response")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HTTPError(f"not an HTTP/1.x response: {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200 and status != 101:
            continue  # 100 Continue and friends precede the real response
        return Response(status, parts[2] if len(parts) > 2 else "", headers)


async def _read_body(buf: _Buffered, resp: Response, max_body: int, head_only: bool) -> None:
    if head_only or resp.status in (204, 304):
        return
    te = resp.headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        await _read_chunked(buf, resp, max_body)
        return
    length_s = resp.headers.get("content-length")
    if length_s is not None and length_s.isdigit():
        length = int(length_s)
        resp.body = await buf.take(min(length, max_body))
        if length > max_body:
            resp.cut("size", f"body of {length} bytes cut at {max_body}")
        elif len(resp.body) < length:
            resp.cut("peer", f"peer closed after {len(resp.body)} of {length} bytes")
        return
    parts: list[bytes] = []
    size = 0
    while size <= max_body:
        data = await buf.some(min(READ_CHUNK, max_body + 1 - size))
        if not data:
            break
        parts.append(data)
        size += len(data)
    body = b"".join(parts)
    if len(body) > max_body:
        resp.cut("size", f"body cut at {max_body} bytes")
        body = body[:max_body]
    resp.body = body


async def _read_chunked(buf: _Buffered, resp: Response, max_body: int) -> None:
    parts: list[bytes] = []
    size = 0
    while True:
        line = await buf.until(b"\r\n", 1024)
        if line is None:
            resp.cut("peer", "peer closed mid-body (chunked)")
            break
        try:
            n = int(line.split(b";", 1)[0].strip() or b"x", 16)
        except ValueError as e:
            raise HTTPError(f"bad chunk size line {line[:40]!r}") from e
        if n == 0:
            break  # trailers, if any, are not needed: the stream is closed anyway
        want = min(n, max_body - size)
        data = await buf.take(want)
        parts.append(data)
        size += len(data)
        if len(data) < want:
            resp.cut("peer", "peer closed mid-chunk")
            break
        if want < n:
            resp.cut("size", f"body cut at {max_body} bytes")
            break
        if await buf.take(2) != b"\r\n":
            raise HTTPError("chunk not followed by CRLF")
    resp.body = b"".join(parts)
