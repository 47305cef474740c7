"""The interface every collector talks to; it knows hosts, not people."""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# /proc and /sys files report size 0, so reads go in fixed chunks until EOF.
CHUNK = 32 * 1024
DEFAULT_READ_LIMIT = 4 * 1024 * 1024
#: files read at once by read_files: enough to keep an SFTP pipe full
READ_WORKERS = 128


# Files generated whole on open (single_open seq_files, one value per file):
# a read shorter than asked is their end. Multi-page seq_files such as
# /proc/net/tcp hand out a page per read, so they are read until EOF.
_WHOLE = re.compile(
    r"^/proc/(\d+|self)/(status|cmdline|limits|cgroup|comm|stat|io)$"
    r"|^/proc/sys/|^/sys/fs/cgroup/|^/proc/(loadavg|meminfo|vmstat|sockstat)$"
)


def short_read_is_eof(path: str) -> bool:
    return _WHOLE.match(path) is not None


class TransportError(Exception):
    """The host could not be reached or refused us; the message is for users."""


class CannotStartSession(TransportError):
    """The host accepted the TCP connection (and maybe sent its SSH banner),
    then closed it before a session opened: sshd could not fork — the host is
    most likely at its process/thread ceiling. Not a network or access fault."""


class PathGone(Exception):
    """A path vanished or is unreadable (a process exited while /proc was read)."""


@dataclass(slots=True)
class CommandResult:
    exit_status: int | None
    stdout: bytes
    stderr: bytes


class HostSession(ABC):
    """One open way into one host.

    File reads need no new process on the host (SFTP over SSH); that is what
    keeps capture working on a host that can no longer fork.
    """

    name: str
    #: True when the host is reached without SSH (this machine).
    is_local: bool = False
    #: the user we act as on the host (SSH login user, or ours locally)
    login_user: str | None = None

    @abstractmethod
    async def read_file(self, path: str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        """Whole file up to `limit` bytes; raises PathGone when it is not there."""

    @abstractmethod
    async def listdir(self, path: str) -> list[str]:
        """Names in a directory; raises PathGone when it is not there."""

    async def readlink(self, path: str) -> str:
        raise PathGone(path)

    async def file_size(self, path: str) -> int:
        """Size of a regular file (following symlinks, e.g. /proc/PID/fd/1)."""
        raise PathGone(path)

    async def read_range(self, path: str, offset: int, limit: int) -> bytes:
        """Up to `limit` bytes from `offset` of a regular file."""
        raise PathGone(path)

    async def read_tail(self, path: str, nbytes: int) -> bytes:
        """The last `nbytes` of a regular file (logs)."""
        size = await self.file_size(path)
        start = max(0, size - nbytes)
        return await self.read_range(path, start, size - start)

    async def write_file(self, path: str, data: bytes) -> None:
        """Create or replace a small file (the JVM attach trigger)."""
        raise TransportError(f"{self.name}: writing files is not supported")

    async def remove(self, path: str) -> None:
        raise TransportError(f"{self.name}: removing files is not supported")

    async def signal(self, pid: int, sig: str) -> bool:
        """Send a signal without creating a process on the host, where the
        transport can (a warm session's shell builtin; os.kill locally)."""
        raise TransportError(f"{self.name}: no fork-free way to send a signal here")

    async def read_files(
        self, paths: Iterable[str], limit: int = DEFAULT_READ_LIMIT
    ) -> dict[str, bytes | None]:
        """Many files at once (pipelined); a vanished file maps to None."""
        plist = list(dict.fromkeys(paths))
        out: dict[str, bytes | None] = dict.fromkeys(plist)
        todo = iter(plist)

        # a fixed set of workers, not one task per file behind a semaphore: with
        # thousands of files the semaphore's waiter bookkeeping grows quadratic
        async def worker() -> None:
            for p in todo:
                try:
                    out[p] = await self.read_file(p, limit)
                except PathGone:
                    out[p] = None

        await asyncio.gather(*(worker() for _ in range(min(len(plist), READ_WORKERS))))
        return out

    async def run(self, argv: Sequence[str], timeout: float = 10.0) -> CommandResult:
        """Run a fixed command template; argv items are never parsed by a shell
        on our side, and are quoted for the remote one. Needs a fork on the host."""
        raise TransportError(f"{self.name}: running commands is not supported")

    async def open_tcp(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to host:port as seen from the host (SSH direct-tcpip)."""
        raise TransportError(f"{self.name}: TCP forwarding is not supported")

    async def open_unix(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A stream to a unix socket on the host (SSH direct-streamlocal)."""
        raise TransportError(f"{self.name}: unix socket forwarding is not supported")

    async def close(self) -> None:
        return None
