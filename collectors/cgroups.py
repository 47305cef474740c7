"""Reading a process's cgroup limits, v1 and v2 (and hybrid) alike.

The effective limit is the tightest one on the way up to the root, so every
ancestor is read; the level closest to its ceiling is the one reported."""

from __future__ import annotations

import asyncio
import weakref

from collectors.analysis.procfs import CgroupRef, parse_int
from collectors.plugin import GuardedSession, Reads
from collectors.transport.base import HostSession, PathGone

#: the layout probe, and pids limits on every level up to the root
CGROUP_PIDS_READS = Reads(dirs=("/sys/fs/cgroup",),
                          files=("/sys/fs/cgroup/**/pids.{current,max}",))

ROOTS_V1 = {"pids": "/sys/fs/cgroup/pids", "memory": "/sys/fs/cgroup/memory"}
ROOTS_V2 = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")

# Which hierarchies a host mounts, learned once per session: guessing every
# root for every level costs hundreds of failed reads per capture.
_layouts: weakref.WeakKeyDictionary[HostSession, asyncio.Task[tuple[dict[str, str], str | None]]]
_layouts = weakref.WeakKeyDictionary()


async def _probe(session: HostSession) -> tuple[dict[str, str], str | None]:
    try:
        top = set(await session.listdir("/sys/fs/cgroup"))
    except PathGone:
        return {}, None
    v1 = {c: r for c, r in ROOTS_V1.items() if c in top}
    if "cgroup.controllers" in top:
        return v1, "/sys/fs/cgroup"
    return v1, "/sys/fs/cgroup/unified" if "unified" in top else None


async def layout(session: HostSession) -> tuple[dict[str, str], str | None]:
    """(v1 controller roots, v2 root) mounted on the host."""
    # learned once per real session, whichever collector asks first; each one
    # that asks must declare the probe all the same
    key = session.inner if isinstance(session, GuardedSession) else session
    if isinstance(session, GuardedSession):
        session.check("dirs", "/sys/fs/cgroup")
    task = _layouts.get(key)
    if task is None:
        task = _layouts[key] = asyncio.ensure_future(_probe(session))
    return await asyncio.shield(task)


def ancestors(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]


async def candidate_dirs(session: HostSession, ref: CgroupRef) -> list[str]:
    v1, v2 = await layout(session)
    root = v1.get(ref.controller) if ref.version == 1 else v2
    return [root + a for a in ancestors(ref.path)] if root else []


async def read_levels(
    session: HostSession, ref: CgroupRef, files: tuple[str, ...]
) -> list[tuple[str, dict[str, bytes]]]:
    """[(cgroup dir, {file: content})] for every level that has the files."""
    dirs = await candidate_dirs(session, ref)
    raw = await session.read_files([f"{d}/{f}" for d in dirs for f in files], limit=64 * 1024)
    levels: list[tuple[str, dict[str, bytes]]] = []
    for d in dirs:
        got = {f: raw[f"{d}/{f}"] for f in files if raw.get(f"{d}/{f}") is not None}
        if got:
            levels.append((d, {k: v for k, v in got.items() if v is not None}))
    return levels


async def pids_limit(session: HostSession, ref: CgroupRef) -> tuple[str, int | None, int | None]:
    """(cgroup path, pids.current, pids.max) of the tightest level."""
    best: tuple[str, int | None, int | None] = (ref.path, None, None)
    best_ratio = -1.0
    for d, files in await read_levels(session, ref, ("pids.current", "pids.max")):
        cur = parse_int(files.get("pids.current"))
        mx = parse_int(files.get("pids.max"))
        ratio = (cur or 0) / mx if mx else 0.0
        if best[1] is None or ratio > best_ratio:
            best, best_ratio = (_rel(d), cur, mx), ratio
    return best


def _rel(d: str) -> str:
    for root in (*ROOTS_V1.values(), "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if d.startswith(root + "/"):
            return d[len(root):]
    return d
