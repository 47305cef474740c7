"""SSH transport on asyncssh: one connection per host, one SFTP session for
file reads (no process is created on the host per read), forwarded channels
for TCP and unix sockets, and commands only as a fallback."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Sequence
from typing import Any

import asyncssh

from collectors.transport.base import (
    CHUNK,
    DEFAULT_READ_LIMIT,
    CannotStartSession,
    CommandResult,
    HostSession,
    PathGone,
    TransportError,
    short_read_is_eof,
)
from collectors.transport.hostkeys import (
    HostKeyError,
    HostKeyPolicy,
    fingerprint,
    host_key_policy,
    record_first_use,
)
from collectors.transport.rawsftp import (
    F_CREAT,
    F_TRUNC,
    F_WRITE,
    NO_SUCH_FILE,
    RawSFTP,
    SFTPClosed,
    SFTPStatus,
)
from collectors.transport.target import SSHTarget

# files open at once on the server: enough to fill the pipe, well under
# sftp-server's descriptor limit on a host with 30 000 processes
SFTP_OPEN_FILES = 256
FAST_CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"


class AuthError(TransportError):
    pass


#: the host hung up on an open TCP connection (ECONNRESET, EOF, a refused
#: channel): what sshd does when it cannot fork the process for a session
_CLOSED_BY_HOST = (ConnectionResetError, BrokenPipeError, asyncssh.ConnectionLost,
                   asyncssh.ChannelOpenError)


def _cannot_start(target: SSHTarget, how: str) -> CannotStartSession:
    return CannotStartSession(
        f"{target.name}: {target.address}:{target.port} accepts connections but cannot start "
        f"a session ({how}) — it is probably at its process/thread ceiling (sshd cannot "
        f"fork). Keep a warm session next time: `hostsnap watch {target.name}` or "
        f"`/snapshot watch {target.name}`")


class _HostKeyClient(asyncssh.SSHClient):
    """Sees the key a host presents (for the message) and lets a key that is not
    in the file through only on a policy's first use."""

    def __init__(self, policy: HostKeyPolicy) -> None:
        self.policy = policy
        self.seen: asyncssh.SSHKey | None = None
        self.ca_seen: asyncssh.SSHKey | None = None
        #: set once TCP is up: a reset after that is the host, not the network
        self.conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.seen = key
        return self.policy.may_trust(key)

    def validate_host_ca_key(self, host: str, addr: str, port: int,
                             key: asyncssh.SSHKey) -> bool:
        self.ca_seen = key
        return False  # the CAs that apply were handed to asyncssh already


class SSHSession(HostSession):
    def __init__(self, target: SSHTarget, conn: asyncssh.SSHClientConnection,
                 sftp: RawSFTP, jump: SSHSession | None = None) -> None:
        self.name = target.name
        self.target = target
        self.login_user = conn.get_extra_info("username") or target.user
        self.conn = conn
        self.sftp = sftp
        self._sem = asyncio.Semaphore(SFTP_OPEN_FILES)
        self._jump = jump
        #: set when the host key was trusted on first use during this connect
        self.recorded_host_key: str | None = None
        #: a `sh` started while the host could fork, kept for builtins only
        self._shell: asyncssh.SSHClientProcess[bytes] | None = None
        self._shell_lock = asyncio.Lock()

    # -- connect -----------------------------------------------------------
    @classmethod
    async def connect(cls, target: SSHTarget) -> SSHSession:
        last: Exception | None = None
        for attempt in range(max(1, target.retries)):
            try:
                return await cls._connect_once(target)
            except (HostKeyError, AuthError):
                raise  # retrying cannot fix these
            except TransportError as e:
                last = e
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        assert last is not None
        raise last

    @classmethod
    async def _connect_once(cls, target: SSHTarget) -> SSHSession:
        # refused here (no file, bad line) before any packet goes out
        policy = await asyncio.to_thread(host_key_policy, target)
        jump = await SSHSession.connect(target.jump) if target.jump else None
        client = _HostKeyClient(policy)
        kwargs: dict[str, Any] = dict(
            port=target.port,
            # the parsed keys, never a path: asyncssh reads nothing itself, and
            # ~/.ssh/config cannot swap the name a certificate is checked for
            known_hosts=policy.known_hosts_arg(),
            client_factory=lambda: client,
            server_host_key_algs=policy.host_key_algs(),
            host_key_alias=None,
            x509_trusted_certs=None,
            gss_kex=False,  # a GSS key exchange would authenticate the host with no key
            connect_timeout=target.connect_timeout,
            keepalive_interval=target.keepalive_interval,
            keepalive_count_max=target.keepalive_count_max,
            # asyncssh builds a new cipher context per packet for chacha20; AES-GCM
            # keeps one: a /proc capture (thousands of small packets) costs a
            # third of the CPU. Defaults follow, for servers without GCM.
            encryption_algs=FAST_CIPHERS,
        )
        if not target.use_agent or not os.environ.get("SSH_AUTH_SOCK"):
            kwargs["agent_path"] = None
        if target.user:
            kwargs["username"] = target.user
        if target.key_files:
            kwargs["client_keys"] = target.key_files
            if target.passphrase:
                kwargs["passphrase"] = target.passphrase
        if jump is not None:
            kwargs["tunnel"] = jump.conn
        try:
            conn = await asyncssh.connect(target.address, **kwargs)
        except asyncssh.HostKeyNotVerifiable as e:
            if jump is not None:
                await jump.close()
            raise policy.refused(e.reason, client.seen, client.ca_seen) from e
        except asyncssh.PermissionDenied as e:
            raise AuthError(
                f"{target.name}: authentication failed for user "
                f"{target.user or '(default)'} at {target.address}: {e.reason}"
            ) from e
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as e:
            raise AuthError(f"{target.name}: cannot load SSH key "
                            f"{', '.join(target.key_files) or '(agent)'}: {e}") from e
        except (TimeoutError, OSError, asyncssh.Error) as e:
            reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            if client.conn is not None and isinstance(e, _CLOSED_BY_HOST):
                banner = client.conn.get_extra_info("server_version")
                raise _cannot_start(target, "SSH banner received, then closed before the "
                                    f"session opened: {reason}" if banner else
                                    f"TCP accepted, then closed before the SSH banner: "
                                    f"{reason}") from e
            raise TransportError(
                f"{target.name}: cannot reach {target.address}:{target.port}: {reason}"
            ) from e
        try:
            sftp = await RawSFTP.start(conn)
        except (asyncssh.Error, OSError, TimeoutError) as e:
            conn.close()
            raise _cannot_start(target, f"logged in, then the SFTP session was refused: "
                                        f"{e}") from e
        session = cls(target, conn, sftp, jump)
        key = conn.get_server_host_key()
        if policy.first_use and key is not None and key == client.seen:
            try:
                await asyncio.to_thread(record_first_use, policy, key)
            except (HostKeyError, OSError) as e:
                await session.close()
                if isinstance(e, HostKeyError):
                    raise
                raise HostKeyError(
                    f"{target.name}: cannot record the host key of {target.address} in "
                    f"{policy.path} ({e.strerror or e}); not connecting with a key that "
                    f"would be unknown next time") from e
            session.recorded_host_key = fingerprint(key)
        return session

    @property
    def closed(self) -> bool:
        return self.conn.is_closed()

    # -- files -------------------------------------------------------------
    def _gone(self, path: str, e: Exception) -> Exception:
        if isinstance(e, SFTPClosed):
            return TransportError(f"{self.name}: connection lost ({e})")
        return PathGone(path)

    async def read_file(self, path: str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        # where a short read is EOF we save a round trip per file (hundreds)
        try:
            async with self._sem:
                return await self.sftp.read_file(path, limit, CHUNK, short_read_is_eof(path))
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e

    async def file_size(self, path: str) -> int:
        try:
            return int(await self.sftp.stat(path) or 0)
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e

    async def read_range(self, path: str, offset: int, limit: int) -> bytes:
        try:
            handle = await self.sftp.open(path)
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e
        try:
            parts: list[bytes] = []
            got = 0
            while got < limit:
                data = await self.sftp.read(handle, offset + got, min(256 * 1024, limit - got))
                if not data:
                    break
                parts.append(data)
                got += len(data)
            return b"".join(parts)
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e
        finally:
            self.sftp.close_handle(handle)

    async def write_file(self, path: str, data: bytes) -> None:
        try:
            handle = await self.sftp.open(path, F_WRITE | F_CREAT | F_TRUNC)
            try:
                if data:
                    await self.sftp.write(handle, 0, data)
            finally:
                self.sftp.close_handle(handle)
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e

    async def remove(self, path: str) -> None:
        try:
            await self.sftp.remove(path)
        except SFTPStatus as e:
            if e.code != NO_SUCH_FILE:
                raise PathGone(path) from e
        except SFTPClosed as e:
            raise self._gone(path, e) from e

    async def listdir(self, path: str) -> list[str]:
        try:
            return await self.sftp.listdir(path)
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e

    async def readlink(self, path: str) -> str:
        try:
            return await self.sftp.readlink(path)
        except (SFTPStatus, SFTPClosed) as e:
            raise self._gone(path, e) from e

    # -- commands and channels ---------------------------------------------
    async def run(self, argv: Sequence[str], timeout: float = 10.0) -> CommandResult:
        command = shlex.join(argv)  # fixed templates; every argument quoted
        try:
            r = await asyncio.wait_for(
                self.conn.run(command, check=False, encoding=None), timeout
            )
        except TimeoutError as e:
            raise TransportError(f"{self.name}: `{argv[0]}` timed out after {timeout}s") from e
        except asyncssh.ChannelOpenError as e:
            raise TransportError(
                f"{self.name}: cannot start `{argv[0]}`: {e.reason} (host cannot fork?)"
            ) from e
        out = r.stdout if isinstance(r.stdout, bytes) else (r.stdout or "").encode()
        err = r.stderr if isinstance(r.stderr, bytes) else (r.stderr or "").encode()
        return CommandResult(r.exit_status, out, err)

    async def open_tcp(self, host: str, port: int) -> tuple[Any, Any]:
        try:
            return await self.conn.open_connection(host, port, encoding=None)
        except (asyncssh.Error, OSError) as e:
            raise TransportError(f"{self.name}: cannot forward to {host}:{port}: {e}") from e

    async def open_unix(self, path: str) -> tuple[Any, Any]:
        try:
            return await self.conn.open_unix_connection(path, encoding=None)
        except (asyncssh.Error, OSError) as e:
            raise TransportError(f"{self.name}: cannot forward to {path}: {e}") from e

    # -- the pre-started shell (warm sessions) ---------------------------------
    async def start_shell(self) -> None:
        """Start `sh` now, while sshd can still fork: later, at the host's
        ceiling, its builtins (kill, echo, read) still work."""
        if self._shell is None:
            self._shell = await self.conn.create_process("exec sh", encoding=None)

    @property
    def has_shell(self) -> bool:
        return self._shell is not None and not self._shell.is_closing()

    async def signal(self, pid: int, sig: str) -> bool:
        """`kill -SIG pid` as a builtin of the pre-started shell: no fork."""
        if not isinstance(pid, int) or pid <= 0 or sig not in ("QUIT", "TERM", "0"):
            raise ValueError("signal: pid must be a positive int, sig QUIT, TERM or 0")
        if self._shell is None or self._shell.is_closing():
            raise TransportError(f"{self.name}: no pre-started shell (not a warm session)")
        marker = f"__hostsnap_{id(self)}_"
        async with self._shell_lock:
            self._shell.stdin.write(f"kill -{sig} {pid} 2>/dev/null; echo {marker}$?\n".encode())
            line = await asyncio.wait_for(self._shell.stdout.readline(), 5)
        text = line.decode(errors="replace").strip()
        if not text.startswith(marker):
            raise TransportError(f"{self.name}: unexpected shell reply {text[:80]!r}")
        return text[len(marker):] == "0"

    async def close(self) -> None:
        if self._shell is not None:
            self._shell.close()
        self.sftp.exit()
        self.conn.close()
        try:
            await asyncio.wait_for(self.conn.wait_closed(), 2)
        except (TimeoutError, asyncssh.Error, OSError):
            pass
        if self._jump is not None:
            await self._jump.close()
