"""The tiny HTTP/1.1 client: framing, caps, and what it says when a body is cut."""

from __future__ import annotations

import asyncio

import pytest

from collectors.http1 import HTTPError, request


class Reader:
    """Hands the response out in small, uneven pieces, like a forwarded channel."""

    def __init__(self, data: bytes, piece: int = 7) -> None:
        self.data, self.piece = data, piece

    async def read(self, n: int = -1) -> bytes:
        take = min(self.piece, n if n > 0 else len(self.data))
        out, self.data = self.data[:take], self.data[take:]
        self.piece = self.piece % 13 + 5
        return out


class Writer:
    def __init__(self) -> None:
        self.sent = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


async def get(raw: bytes, max_body: int = 1 << 20):
    w = Writer()
    r = await request(Reader(raw), w, "GET", "/containers/json?all=1", host="docker",
                      max_body=max_body)
    assert w.closed
    return r, w


async def test_content_length_and_request_line():
    r, w = await get(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: Docker/24\r\n\r\nhello")
    assert (r.status, r.reason, r.body, r.truncated) == (200, "OK", b"hello", False)
    assert r.headers["server"] == "Docker/24"
    assert w.sent.startswith(b"GET /containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n")
    assert b"Connection: close\r\n" in w.sent and w.sent.endswith(b"\r\n\r\n")


async def test_chunked_with_extensions_and_a_continue_first():
    raw = (b"HTTP/1.1 100 Continue\r\n\r\n"
           b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;x=1\r\ngoro\r\n6\r\nutine \r\n3\r\n117\r\n0\r\n\r\n")
    r, _ = await get(raw)
    assert r.body == b"goroutine 117" and not r.truncated


@pytest.mark.parametrize("framing", ["chunked", "length", "eof"])
async def test_body_over_the_cap_is_cut_and_says_so(framing):
    body = b"x" * 1000
    if framing == "chunked":
        raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"64\r\n" + body[i:i + 100] + b"\r\n" for i in range(0, 1000, 100))
               + b"0\r\n\r\n")
    elif framing == "length":
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body
    else:
        raw = b"HTTP/1.0 200 OK\r\n\r\n" + body
    r, _ = await get(raw, max_body=250)
    assert r.body == b"x" * 250 and r.truncated_by == "size"
    assert "cut at 250" in r.truncated_reason


async def test_exactly_the_cap_is_not_truncated():
    r, _ = await get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n\r\n", max_body=5)
    assert r.body == b"hello" and not r.truncated


async def test_peer_closing_early_keeps_what_came():
    r, _ = await get(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
    assert r.body == b"partial" and r.truncated_by == "peer"
    assert r.truncated_reason == "peer closed after 7 of 100 bytes"
    r, _ = await get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
    assert r.body == b"abc" and r.truncated_reason == "peer closed mid-chunk"


async def test_not_http_is_an_error_and_the_stream_is_closed():
    w = Writer()  # a NATS server on a port that discovery probed
    with pytest.raises(HTTPError, match=r"not an HTTP/1\.x response"):
        await request(Reader(b'INFO {"server_id":"nats"}\r\n\r\n'), w, "GET", "/", host="d")
    assert w.closed
    with pytest.raises(HTTPError, match="closed before a response"):
        await get(b"")


async def test_header_injection_is_refused():
    with pytest.raises(ValueError):
        await request(Reader(b""), Writer(), "GET", "/x HTTP/1.1\r\nEvil: 1", host="d")


class Trickle(Reader):
    """Sends the head and a first piece of the body, then stalls (a struggling service)."""

    def __init__(self, first: bytes) -> None:
        super().__init__(first, piece=1 << 20)

    async def read(self, n: int = -1) -> bytes:
        if self.data:
            return await super().read(n)
        await asyncio.sleep(3600)
        return b""


async def test_time_limit_keeps_the_body_so_far():
    w = Writer()
    r = await request(Trickle(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"c\r\ngoroutine 1 \r\n"), w, "GET", "/", host="d", timeout=0.3)
    assert r.body == b"goroutine 1 " and r.truncated_by == "time" and w.closed
    assert r.truncated_reason == "time limit reached: 12 bytes in 0.3s"
    with pytest.raises(TimeoutError):  # no head in time: nothing to keep
        await request(Trickle(b"HTTP/1.1 200"), Writer(), "GET", "/", host="d", timeout=0.2)
