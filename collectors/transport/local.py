"""This machine, through the same interface as a remote host, without SSH.

Where there is no /proc (a laptop on macOS), a small psutil-backed view
serves the /proc files the collectors read, so the same collector code runs.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from collectors.transport.base import (
    DEFAULT_READ_LIMIT,
    CommandResult,
    HostSession,
    PathGone,
    TransportError,
)
from collectors.transport.psutil_proc import PsutilProc


def _read(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb", buffering=0) as f:
            parts: list[bytes] = []
            size = 0
            while size < limit:
                chunk = f.read(min(65536, limit - size))
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
            return b"".join(parts)
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError,
            IsADirectoryError) as e:
        raise PathGone(path) from e
    except OSError as e:  # ESRCH and friends from a process that just exited
        raise PathGone(path) from e


def _read_many(paths: list[str], limit: int) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for p in paths:
        try:
            out[p] = _read(p, limit)
        except PathGone:
            out[p] = None
    return out


class LocalSession(HostSession):
    is_local = True

    def __init__(self, name: str = "localhost", *, force_psutil: bool = False) -> None:
        self.name = name
        self.login_user = getpass.getuser()
        self._fake: PsutilProc | None = None
        if force_psutil or not Path("/proc/self/status").exists():
            self._fake = PsutilProc()

    async def read_file(self, path: str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        if self._fake is not None:
            return await asyncio.to_thread(self._fake.read, path)
        return await asyncio.to_thread(_read, path, limit)

    async def read_files(
        self, paths: Iterable[str], limit: int = DEFAULT_READ_LIMIT
    ) -> dict[str, bytes | None]:
        plist = list(dict.fromkeys(paths))
        if self._fake is not None:
            return await asyncio.to_thread(self._fake.read_many, plist)
        # one thread hop for the batch: local /proc reads take microseconds
        return await asyncio.to_thread(_read_many, plist, limit)

    async def file_size(self, path: str) -> int:
        try:
            return (await asyncio.to_thread(os.stat, path)).st_size
        except OSError as e:
            raise PathGone(path) from e

    async def read_range(self, path: str, offset: int, limit: int) -> bytes:
        def read() -> bytes:
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    return f.read(limit)
            except OSError as e:
                raise PathGone(path) from e

        return await asyncio.to_thread(read)

    async def write_file(self, path: str, data: bytes) -> None:
        def write() -> None:
            try:
                with open(path, "wb") as f:
                    f.write(data)
            except OSError as e:
                raise PathGone(path) from e

        await asyncio.to_thread(write)

    async def remove(self, path: str) -> None:
        try:
            await asyncio.to_thread(os.unlink, path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise PathGone(path) from e

    async def signal(self, pid: int, sig: str) -> bool:
        signum = {"QUIT": signal.SIGQUIT, "TERM": signal.SIGTERM, "0": 0}[sig]
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return False
        return True

    async def listdir(self, path: str) -> list[str]:
        if self._fake is not None:
            return await asyncio.to_thread(self._fake.listdir, path)
        try:
            return await asyncio.to_thread(os.listdir, path)
        except OSError as e:
            raise PathGone(path) from e

    async def readlink(self, path: str) -> str:
        try:
            return await asyncio.to_thread(os.readlink, path)
        except OSError as e:
            raise PathGone(path) from e

    async def run(self, argv: Sequence[str], timeout: float = 10.0) -> CommandResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError as e:
            raise TransportError(f"{self.name}: cannot start `{argv[0]}`: {e}") from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError as e:
            proc.kill()
            await proc.wait()
            raise TransportError(f"{self.name}: `{argv[0]}` timed out after {timeout}s") from e
        return CommandResult(proc.returncode, out, err)

    async def open_tcp(self, host: str, port: int) -> tuple[Any, Any]:
        try:
            return await asyncio.open_connection(host, port)
        except OSError as e:
            raise TransportError(f"cannot connect to {host}:{port}: {e.strerror or e}") from e

    async def open_unix(self, path: str) -> tuple[Any, Any]:
        try:
            return await asyncio.open_unix_connection(path)
        except OSError as e:
            raise TransportError(f"cannot connect to {path}: {e.strerror or e}") from e
