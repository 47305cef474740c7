"""The HotSpot attach protocol, spoken over a (forwarded) unix socket.

`jcmd`/`jstack` do exactly this; doing it ourselves means no JDK on the host
and, over SSH direct-streamlocal forwarding, no new process on the host.

Request:  "1\\0" <command> "\\0" <arg1> "\\0" <arg2> "\\0" <arg3> "\\0"
Response: "<result code>\\n" then the command's output until EOF.
"""

from __future__ import annotations

import asyncio
from typing import Any

from collectors.transport.base import HostSession, TransportError

PROTOCOL_VERSION = b"1"


class AttachError(TransportError):
    pass


def encode_request(command: str, *args: str) -> bytes:
    parts = [PROTOCOL_VERSION, command.encode()]
    padded = [*args, "", "", ""][:3]
    parts += [a.encode() for a in padded]
    if any(b"\0" in p for p in parts):
        raise ValueError("attach arguments cannot contain NUL")
    return b"\0".join(parts) + b"\0"


async def attach_command(
    session: HostSession, socket_path: str, command: str, *args: str,
    limit: int = 256 * 1024 * 1024, timeout: float = 30.0,
) -> bytes:
    """Run an attach command (e.g. "threaddump", "-l") and return its output."""
    try:
        reader, writer = await asyncio.wait_for(session.open_unix(socket_path), 5)
    except TimeoutError as e:
        raise AttachError(f"attach socket {socket_path}: connect timed out") from e
    try:
        writer.write(encode_request(command, *args))
        await _drain(writer)
        data = await asyncio.wait_for(_read_all(reader, limit), timeout)
    except TimeoutError as e:
        raise AttachError(f"attach: no complete answer within {timeout:g}s") from e
    finally:
        writer.close()
    head, sep, body = data.partition(b"\n")
    if not sep:
        raise AttachError(f"attach: malformed reply {data[:80]!r}")
    code = head.strip()
    if code != b"0":
        raise AttachError(f"attach: {command} failed with code {code.decode(errors='replace')}"
                          f": {body[:200].decode(errors='replace').strip()}")
    return body


async def _drain(writer: Any) -> None:
    drain = getattr(writer, "drain", None)
    if drain is not None:
        await drain()


async def _read_all(reader: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await reader.read(65536)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)
