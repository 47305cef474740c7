"""jvm: thread dumps that never kill the JVM (000, 001, 002, 003).

The measured fact this is built on (DESIGN.md): making a JVM start its Attach
Listener while its cgroup, user or the kernel is at the thread ceiling kills
it. So, per JVM and per dump, in this order:

1. attach over the forwarded socket when the Attach Listener already runs;
2. start the Attach Listener (trigger file + SIGQUIT) and attach — only with
   clear headroom on every ceiling, measured just before;
3. otherwise SIGQUIT with no trigger file: the JVM's Signal Dispatcher prints
   the dump to its stdout, read back from /proc/PID/fd/1 when that is a file;
   the signal goes through the warm session's shell (no fork) when there is one;
4. `jcmd PID Thread.print -l` as the JVM's user, last, and never near a ceiling.

Every dump records the way used and why.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collectors.analysis.results import JvmDump, JvmInfo, JvmResult
from collectors.base import Artifact, CollectContext, Collector, CollectorResult, Status
from collectors.headroom import HEADROOM_READS, Headroom, measure
from collectors.hotspot_attach import AttachError, attach_command
from collectors.plugin import Reads
from collectors.procscan import PROCSCAN_READS, ProcessTable, shared_scan
from collectors.transport.base import HostSession, PathGone, TransportError

SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+-]+$")
DUMP_END = b"JNI global"  # last line of every HotSpot thread dump (JDK 8-25)


class JvmOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    dumps: int = Field(default=3, ge=1, le=10)
    spacing: float = Field(default=5.0, ge=0.0, le=120.0)
    max_jvms: int = Field(default=5, ge=1, le=50)
    #: substrings of the command line that select JVMs (also host label "jvm")
    select: list[str] = Field(default_factory=list)
    allow_jcmd: bool = True
    dump_timeout: float = 20.0
    max_dump_bytes: int = 256 * 1024 * 1024
    #: warm sessions start the Attach Listener of selected JVMs while there is room
    arm_in_watch: bool = False


class NoSafeWay(TransportError):
    """No way to take a dump that cannot kill the JVM."""


@dataclass
class JvmTarget:
    pid: int
    nspid: int
    uid: int
    user: str
    threads: int
    cmdline: str
    exe: str = ""
    stdout: str = ""  # readlink of fd 1
    cwd_ok: bool = False
    listener: bool = False
    triggers: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"/proc/{self.pid}/root"

    @property
    def socket(self) -> str:
        return f"{self.root}/tmp/.java_pid{self.nspid}"

    @property
    def in_container(self) -> bool:
        return self.nspid != self.pid


def _nspid(status: bytes, pid: int) -> int:
    for line in status.decode(errors="replace").splitlines():
        if line.startswith("NSpid:"):
            parts = line.split()[1:]
            return int(parts[-1]) if parts and parts[-1].isdigit() else pid
    return pid


def is_java(name: str, cmdline: str) -> bool:
    first = cmdline.split(" ", 1)[0]
    return name == "java" or posixpath.basename(first) == "java"


async def discover(session: HostSession, table: ProcessTable, patterns: list[str],
                   limit: int) -> list[JvmTarget]:
    java = [p for p in table.procs.values()
            if is_java(p.name, table.cmdlines.get(p.pid, ""))]
    missing = [p.pid for p in java if p.pid not in table.cmdlines]
    if missing:
        raw = await session.read_files([f"/proc/{pid}/cmdline" for pid in missing])
        for pid in missing:
            data = raw.get(f"/proc/{pid}/cmdline") or b""
            table.cmdlines[pid] = data.rstrip(b"\0").replace(b"\0", b" ").decode(
                errors="replace")[:500]
    if patterns:
        java = [p for p in java if any(s in table.cmdlines.get(p.pid, "") for s in patterns)]
    java.sort(key=lambda p: -p.threads)
    targets = [
        JvmTarget(pid=p.pid, nspid=_nspid(table.raw_status.get(p.pid, b""), p.pid), uid=p.uid,
                  user=table.user(p.uid), threads=p.threads,
                  cmdline=table.cmdlines.get(p.pid, ""))
        for p in java[:limit]
    ]
    await asyncio.gather(*(inspect(session, t) for t in targets))
    return targets


async def inspect(session: HostSession, t: JvmTarget) -> None:
    """Where its stdout goes, whether its Attach Listener runs, stale triggers."""
    async def link(leaf: str) -> str:
        try:
            return await session.readlink(f"/proc/{t.pid}/{leaf}")
        except PathGone:
            return ""

    t.exe, t.stdout, cwd = await asyncio.gather(link("exe"), link("fd/1"), link("cwd"))
    t.cwd_ok = bool(cwd)
    try:
        tmp = await session.listdir(f"{t.root}/tmp")
    except PathGone:
        tmp = []
    t.listener = f".java_pid{t.nspid}" in tmp
    t.triggers = [f"{t.root}/tmp/{n}" for n in tmp if n == f".attach_pid{t.nspid}"]
    if t.cwd_ok:
        try:
            if f".attach_pid{t.nspid}" in await session.listdir(f"/proc/{t.pid}/cwd"):
                t.triggers.append(f"/proc/{t.pid}/cwd/.attach_pid{t.nspid}")
        except PathGone:
            pass


def _user_threads(table: ProcessTable, uid: int) -> int:
    return sum(p.threads for p in table.procs.values() if p.uid == uid)


async def _signal(session: HostSession, pid: int, sig: str) -> str:
    """Fork-free where possible; `kill` as a command only as a fallback."""
    try:
        await session.signal(pid, sig)
        return "signal sent without a new process (shell builtin)" if not session.is_local \
            else "signal sent"
    except TransportError:
        r = await session.run(["kill", f"-{sig}", str(pid)], timeout=5)
        if r.exit_status != 0:
            raise TransportError(f"kill -{sig} {pid}: {r.stderr.decode(errors='replace')}"
                                 ) from None
        return "signal sent with `kill` (host could fork)"


class DumpTaker:
    def __init__(self, session: HostSession, opts: JvmOptions, table: ProcessTable) -> None:
        self.s = session
        self.opts = opts
        self.table = table

    async def take(self, t: JvmTarget) -> tuple[bytes, str, str]:
        """(dump, method, why)."""
        notes: list[str] = []
        if t.listener or await self._socket_exists(t):
            t.listener = True
            try:
                out = await attach_command(self.s, t.socket, "threaddump", "-l",
                                           limit=self.opts.max_dump_bytes,
                                           timeout=self.opts.dump_timeout)
                return out, "attach", "Attach Listener already running"
            except (AttachError, TransportError) as e:
                notes.append(f"attach failed: {e}")
        hr = await measure(self.s, t.pid, t.uid, _user_threads(self.table, t.uid))
        room = "; ".join(hr.ceilings)
        if (not t.listener and hr.clear() and not t.in_container) or (
                not t.listener and hr.clear() and t.in_container):
            try:
                out = await self.start_listener_and_attach(t, hr)
                return out, "attach", f"started the Attach Listener with clear headroom ({room})"
            except (AttachError, TransportError) as e:
                notes.append(f"starting the Attach Listener failed: {e}")
        if self._stdout_is_file(t):
            if t.triggers and not hr.clear():
                # SIGQUIT with a trigger file present starts the listener: at a
                # ceiling that is what kills the JVM. Remove it or do nothing.
                for trig in list(t.triggers):
                    try:
                        await self.s.remove(trig)
                        t.triggers.remove(trig)
                    except (PathGone, TransportError):
                        pass
                if t.triggers:
                    raise NoSafeWay(f"a stale attach trigger {t.triggers[0]} exists and cannot "
                                    f"be removed; SIGQUIT would start the Attach Listener at a "
                                    f"ceiling ({room})")
            if not t.triggers:
                out, how = await self._sigquit(t)
                why = ("no Attach Listener and no headroom to start one" if not hr.clear()
                       else "attach unavailable")
                return out, "sigquit", f"{why} ({room}); {how}; read from {t.stdout}"
        else:
            notes.append(f"stdout is {t.stdout or 'unreadable'}, not a file: SIGQUIT's dump "
                         "would go to the service's log")
        if self.opts.allow_jcmd and hr.clear():
            out = await self._jcmd(t)
            return out, "jcmd", f"last resort with clear headroom ({room}); " + "; ".join(notes)
        raise NoSafeWay("no way to dump without risking the JVM: " + "; ".join(
            [*notes, f"headroom: {room}"]))

    async def _socket_exists(self, t: JvmTarget) -> bool:
        try:
            return f".java_pid{t.nspid}" in await self.s.listdir(f"{t.root}/tmp")
        except PathGone:
            return False

    def _stdout_is_file(self, t: JvmTarget) -> bool:
        return t.stdout.startswith("/") and not t.stdout.startswith("/dev/")

    async def start_listener_and_attach(self, t: JvmTarget, hr: Headroom) -> bytes:
        trig = (f"/proc/{t.pid}/cwd/.attach_pid{t.nspid}" if t.cwd_ok
                else f"{t.root}/tmp/.attach_pid{t.nspid}")
        try:
            await self.s.write_file(trig, b"")
        except PathGone as e:
            raise AttachError(f"cannot create {trig} (not the JVM's user?)") from e
        try:
            await _signal(self.s, t.pid, "QUIT")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if await self._socket_exists(t):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AttachError("the JVM did not open its attach socket within 5 s "
                                  "(is the SSH user the JVM's user or root?)")
        finally:
            try:
                await self.s.remove(trig)
            except (PathGone, TransportError):
                pass
        t.listener = True
        return await attach_command(self.s, t.socket, "threaddump", "-l",
                                    limit=self.opts.max_dump_bytes,
                                    timeout=self.opts.dump_timeout)

    async def _sigquit(self, t: JvmTarget) -> tuple[bytes, str]:
        path = f"/proc/{t.pid}/fd/1"
        start = await self.s.file_size(path)
        how = await _signal(self.s, t.pid, "QUIT")
        deadline = time.monotonic() + self.opts.dump_timeout
        data = b""
        last_size, stable_since = -1, 0.0
        while time.monotonic() < deadline:
            size = await self.s.file_size(path)
            if size != last_size:
                last_size, stable_since = size, time.monotonic()
            elif DUMP_END in data and time.monotonic() - stable_since > 0.15:
                break  # the heap summary after the trailer has been written too
            if size > start:
                data = await self.s.read_range(path, start, min(size - start,
                                                               self.opts.max_dump_bytes))
            await asyncio.sleep(0.05)
        i = data.find(b"Full thread dump")
        if i < 0:
            raise TransportError(f"no thread dump appeared in {t.stdout} within "
                                 f"{self.opts.dump_timeout:g}s")
        j = data.rfind(b"\n", 0, i)  # keep the timestamp line above the header
        k = data.rfind(b"\n", 0, j) if j > 0 else -1
        return data[k + 1:], how

    async def _jcmd(self, t: JvmTarget) -> bytes:
        jcmd = posixpath.join(posixpath.dirname(t.exe), "jcmd") if t.exe else "jcmd"
        if not SAFE_PATH.match(jcmd) or t.in_container:
            where = "in a container" if t.in_container else jcmd
            raise NoSafeWay(f"jcmd not usable for pid {t.pid} ({where})")
        argv = [jcmd, str(t.pid), "Thread.print", "-l"]
        if self.s.login_user != t.user:  # jcmd must run as the JVM's user
            argv = ["sudo", "-n", "-u", t.user, *argv]
        r = await self.s.run(argv, timeout=self.opts.dump_timeout)
        if r.exit_status != 0 or DUMP_END not in r.stdout:
            raise TransportError(f"jcmd failed ({r.exit_status}): "
                                 f"{(r.stderr or r.stdout)[:200].decode(errors='replace')}")
        return r.stdout


async def _alive(session: HostSession, pid: int) -> bool:
    try:
        await session.read_file(f"/proc/{pid}/status")
        return True
    except (PathGone, TransportError):
        return False


def _jdk_version(dump: bytes) -> str:
    m = re.search(rb"Full thread dump [^(\n]*\(([^ )]+)", dump[:4096])
    return m.group(1).decode(errors="replace") if m else ""


class JvmCollector(Collector):
    name = "jvm"
    description = "JVM thread dumps: attach socket, SIGQUIT to stdout, jcmd last"
    reads = PROCSCAN_READS | HEADROOM_READS | Reads(
        files=("/proc/<pid>/{status,cmdline,exe,cwd,fd/1}",),
        dirs=("/proc/<pid>/root/tmp", "/proc/<pid>/cwd"),
        writes=("/proc/<pid>/{cwd,root/tmp}/.attach_pid<nspid>",),
        sockets=("/proc/<pid>/root/tmp/.java_pid<nspid>",),
        signals=("QUIT",),
        commands=("kill -QUIT <pid>", "<path>/jcmd <pid> Thread.print -l",
                  "sudo -n -u <user> <path>/jcmd <pid> Thread.print -l"),
        notes=("attach socket forwarded (no process on the host); the trigger file and "
               "SIGQUIT only with clear headroom; `kill` only when no fork-free signal; "
               "jcmd (the JVM's own, as its user) last",),
    )
    timeout = 60.0

    def budget(self, ctx: CollectContext) -> float:
        o = _opts(ctx)
        return o.spacing * (o.dumps - 1) + o.dump_timeout * o.dumps + 10

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        opts = _opts(ctx)
        table = await shared_scan(ctx)
        label = ctx.host.labels.get("jvm", [])
        patterns = [*opts.select, *([label] if isinstance(label, str) else label)]
        targets = await discover(ctx.session, table, patterns, opts.max_jvms)
        if not targets:
            result.status = Status.SKIPPED
            result.error = "no Java process" + (f" matching {patterns}" if patterns else "")
            return
        res = JvmResult(jvms=[])  # set, so stored even while empty
        result.typed = res
        taker = DumpTaker(ctx.session, opts, table)
        await asyncio.gather(*(self._one(ctx, taker, t, opts, res, result) for t in targets))
        if any(j.error for j in res.jvms):
            result.status = Status.PARTIAL if any(j.dumps for j in res.jvms) else Status.FAILED
            result.error = "; ".join(f"pid {j.pid}: {j.error}" for j in res.jvms if j.error)

    async def _one(self, ctx: CollectContext, taker: DumpTaker, t: JvmTarget, opts: JvmOptions,
                   res: JvmResult, result: CollectorResult) -> None:
        info = JvmInfo(pid=t.pid, nspid=t.nspid, user=t.user, threads=t.threads,
                       cmdline=t.cmdline, listener_before=t.listener, stdout=t.stdout,
                       dumps=[])
        res.jvms.append(info)
        dumps: list[bytes] = []
        for i in range(opts.dumps):
            if i:
                await asyncio.sleep(opts.spacing)
            t0 = time.monotonic()
            try:
                data, method, why = await taker.take(t)
            except (TransportError, PathGone) as e:
                gone = not await _alive(ctx.session, t.pid)
                info.error = "the JVM exited during the capture" if gone else str(e)
                break
            dumps.append(data)
            info.dumps.append(JvmDump(method=method, why=why, bytes=len(data),
                                      seconds=round(time.monotonic() - t0, 3)))
            result.artifacts.append(Artifact(
                f"jvm/{t.pid}-dump{i + 1}.txt", data,
                meta={"pid": t.pid, "method": method, "why": why}))
        if dumps:  # summary and findings: the analysis stage, from the raw dumps
            info.jdk = _jdk_version(dumps[0])


def _opts(ctx: CollectContext) -> JvmOptions:
    o = ctx.options.get("jvm")
    return o if isinstance(o, JvmOptions) else JvmOptions.model_validate(o or {})


async def arm_attach(session: HostSession, host_labels: dict[str, Any], opts: JvmOptions
                     ) -> list[str]:
    """Start the Attach Listener of the selected JVMs now, while there is room,
    so a later dump at the ceiling attaches without creating a thread."""
    from collectors.procscan import scan_processes

    table = await scan_processes(session)
    label = host_labels.get("jvm", [])
    patterns = [*opts.select, *([label] if isinstance(label, str) else label)]
    notes = []
    taker = DumpTaker(session, opts, table)
    for t in await discover(session, table, patterns, opts.max_jvms):
        if t.listener:
            notes.append(f"pid {t.pid}: Attach Listener already running")
            continue
        hr = await measure(session, t.pid, t.uid, _user_threads(table, t.uid))
        if not hr.clear():
            notes.append(f"pid {t.pid}: not armed, headroom tight ({'; '.join(hr.ceilings)})")
            continue
        try:
            await taker.start_listener_and_attach(t, hr)  # the dump proves it works
            notes.append(f"pid {t.pid}: Attach Listener armed")
        except TransportError as e:
            notes.append(f"pid {t.pid}: not armed: {e}")
    return notes
