"""The store: snapshots saved as their collectors finish, read back as views."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import zstandard
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.store.db import (
    DEFAULT_TIMEOUT_S,
    DatabaseError,
    is_current,
    make_engine,
    normalize_url,
    upgrade,
)
from bot.store.faults import first_line
from bot.store.ids import LENGTH as ID_LENGTH
from bot.store.ids import is_id_prefix, new_id
from bot.store.models import (
    ArtifactRow,
    AuditRow,
    CollectorRunRow,
    DumpViewRow,
    FindingRow,
    SnapshotRow,
)
from bot.store.views import (
    ArtifactView,
    AuditView,
    CollectorView,
    SnapshotSummary,
    SnapshotView,
)
from collectors.analysis.findings import Finding, Severity, sort_findings
from collectors.analysis.stage import RULES_VERSION, Evidence, RawFile, typed
from collectors.base import CollectorResult

ZSTD_LEVEL = 6
OWNER = f"{socket.gethostname()}:{os.getpid()}"


class SnapshotNotFound(LookupError):
    pass


#: marks an analysis that found nothing (never shown)
_EMPTY_SET = "_NO_FINDINGS"


def _latest(rows: list[FindingRow]) -> list[Finding]:
    """The findings of the latest analysis of one snapshot."""
    last = max((f.finding_set for f in rows), default=1)
    return sort_findings([Finding.model_validate(f.body) for f in rows
                          if f.finding_set == last and f.rule != _EMPTY_SET])


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, engine: AsyncEngine, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.timeout = timeout
        # SQLite has one writer at a time and makes the others poll for its
        # lock with sleeps; 100 captures writing at once on a loaded machine
        # then waited past the busy timeout ("database is locked", seen with
        # `snapshot @all` of 100 hosts). This process's writes queue here in
        # order instead; PostgreSQL needs no such thing.
        self._sqlite_writes = (asyncio.Lock() if engine.dialect.name == "sqlite" else None)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (engine.begin()), one at a time on SQLite; the
        wait for our turn is bounded like a pool checkout."""
        if self._sqlite_writes is None:
            async with self.engine.begin() as c:
                yield c
            return
        async with asyncio.timeout(self.timeout):
            await self._sqlite_writes.acquire()
        try:
            async with self.engine.begin() as c:
                yield c
        finally:
            self._sqlite_writes.release()

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True,
                   timeout: float = DEFAULT_TIMEOUT_S) -> Store:
        engine = make_engine(url, timeout)
        try:
            if migrate and not await is_current(engine):
                await upgrade(engine)
            else:
                async with engine.connect():
                    pass
        except (OSError, OperationalError, DBAPIError) as e:
            await engine.dispose()
            safe = normalize_url(url).split("@")[-1]  # never print a password
            why = (f"no answer within {timeout:g} s (database_timeout)"
                   if isinstance(e, TimeoutError) else first_line(e))
            raise DatabaseError(f"database unreachable ({safe}): {why}") from e
        return cls(engine, timeout)

    async def close(self) -> None:
        await self.engine.dispose()

    # -- writing -----------------------------------------------------------
    async def create_snapshot(
        self, host: str, *, group: str = "", trigger: str = "cli", requested_by: str = "",
        snapshot_id: str | None = None, expected: list[str] | None = None,
        audit_actor: str | None = None,
    ) -> str:
        """`expected`: the collectors this capture runs, kept so a verdict can
        name the ones that never reported (a crash leaves them no row).
        `audit_actor`: also records the `capture` audit event, in the same
        transaction (one commit fewer per capture)."""
        sid = snapshot_id or new_id()
        summary = {"expected": list(expected)} if expected else {}
        t = now()
        # Core inserts: no ORM object is needed afterwards, and a flush costs more
        async with self._writing() as c:
            await c.execute(insert(SnapshotRow).values(
                id=sid, host=host, host_group=group, status="running", trigger=trigger,
                requested_by=requested_by, created_at=t, summary=summary, owner=OWNER))
            if audit_actor is not None:
                await c.execute(insert(AuditRow).values(
                    at=t, actor=audit_actor, action="capture", target=host, snapshot_id=sid,
                    detail={"trigger": trigger, "collectors": list(expected or [])}))
        return sid

    async def add_result(self, snapshot_id: str, r: CollectorResult) -> None:
        """Saved as soon as a collector finishes, in one transaction: a crash
        later keeps this."""
        # compressing MBs of dumps takes tens of ms: not on the event loop
        packed = await asyncio.to_thread(
            lambda: [(a, self._compress(a.data)) for a in r.artifacts])
        async with self._writing() as c:
            await c.execute(insert(CollectorRunRow).values(
                snapshot_id=snapshot_id, collector=r.collector, status=str(r.status),
                error=r.error, duration_ms=int(r.duration_s * 1000), warnings=r.warnings,
                parsed=r.parsed))
            if packed:  # one executemany (batched into one INSERT where the driver can)
                await c.execute(insert(ArtifactRow), [dict(
                    snapshot_id=snapshot_id, collector=r.collector, name=a.name,
                    content_type=a.content_type, size=len(a.data), stored_size=len(comp),
                    sha256=digest, compression="zstd", data=comp, meta=a.meta,
                ) for a, (comp, digest) in packed])
            await _insert_findings(c, snapshot_id, r.findings)

    @staticmethod
    def _compress(data: bytes) -> tuple[bytes, str]:
        # a compressor per call: ZstdCompressor objects are not thread-safe
        return (zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data),
                hashlib.sha256(data).hexdigest())

    async def add_finding_set(self, snapshot_id: str, findings: list[Finding],
                              rules_version: str = RULES_VERSION) -> int:
        """A new analysis of a snapshot, beside the older ones (kept); views show
        the latest. Returns its number (capture's is 1)."""
        sid = await self.resolve_id(snapshot_id)
        async with self._writing() as c:
            last = await c.scalar(select(func.max(FindingRow.finding_set)).where(
                FindingRow.snapshot_id == sid))
            number = (last or 1) + 1
            await _insert_findings(c, sid, findings, number, rules_version)
            if not findings:  # an analysis that finds nothing is a set too: say so
                await c.execute(insert(FindingRow).values(
                    snapshot_id=sid, collector="snapshot", rule=_EMPTY_SET, severity="info",
                    title="", subject="", body={}, finding_set=number,
                    rules_version=rules_version, analyzed_at=now()))
        return number

    async def finding_sets(self, snapshot_id: str) -> list[tuple[int, str, int]]:
        """(set, rules version, findings) of every analysis, oldest first."""
        sid = await self.resolve_id(snapshot_id)
        async with self.sessions() as s:
            rows = (await s.execute(
                select(FindingRow.finding_set, FindingRow.rules_version, FindingRow.rule)
                .where(FindingRow.snapshot_id == sid))).all()
        sets: dict[int, tuple[str, int]] = {}
        for n, version, rule in rows:
            v, count = sets.get(n, (version, 0))
            sets[n] = (v, count + (rule != _EMPTY_SET))
        return [(n, v, c) for n, (v, c) in sorted(sets.items())]

    async def findings_of(self, snapshot_id: str) -> list[Finding]:
        """The findings of the latest analysis."""
        return (await self.get_snapshot(snapshot_id)).finding_list

    async def evidence_of(self, snapshot_id: str) -> Evidence:
        """Typed results and raw files of a stored snapshot, for `reanalyze`."""
        sid = await self.resolve_id(snapshot_id)
        async with self.sessions() as s:
            runs = (await s.scalars(select(CollectorRunRow).where(
                CollectorRunRow.snapshot_id == sid))).all()
            arts = (await s.scalars(select(ArtifactRow).where(
                ArtifactRow.snapshot_id == sid))).all()
            raw = [(a.collector, a.name, a.data, a.size, a.compression, a.meta) for a in arts]

        def unpack() -> dict[str, list[RawFile]]:
            out: dict[str, list[RawFile]] = {}
            for collector, name, data, size, comp, meta in raw:
                if comp == "zstd":
                    data = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
                out.setdefault(collector, []).append(RawFile(name, data, meta or {}))
            return out

        files = await asyncio.to_thread(unpack)
        results = {r.collector: m for r in runs if (m := typed(r.collector, r.parsed))}
        return Evidence(results=results, artifacts=files)

    async def finish_snapshot(
        self, snapshot_id: str, *, findings: list[Finding] | None = None,
        status: str | None = None, error: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        async with self._writing() as c:
            # the snapshot and its collectors' statuses in one read
            rows = (await c.execute(
                select(SnapshotRow.created_at, SnapshotRow.summary, CollectorRunRow.status)
                .outerjoin(CollectorRunRow, CollectorRunRow.snapshot_id == SnapshotRow.id)
                .where(SnapshotRow.id == snapshot_id))).all()
            if not rows:
                raise SnapshotNotFound(snapshot_id)
            created, stored_summary = rows[0][0], rows[0][1]
            statuses = [st for _, _, st in rows if st is not None]
            if findings:
                await _amend(c, snapshot_id, findings)
            if status is None:
                if not statuses:
                    status = "failed"
                elif any(st not in ("ok", "skipped") for st in statuses):
                    status = "partial"
                else:
                    status = "complete"
            t = now()
            values: dict[str, Any] = dict(
                status=status, error=error, finished_at=t,
                duration_ms=int((t - (_utc(created) or t)).total_seconds() * 1000))
            if summary:
                values["summary"] = {**(stored_summary or {}), **summary}
            await c.execute(update(SnapshotRow).where(SnapshotRow.id == snapshot_id)
                            .values(**values))

    async def mark_interrupted(self, *, older_than: timedelta = timedelta(0),
                               owner: str | None = None,
                               why: str = "hostsnap restarted") -> list[str]:
        """Snapshots left `running` by a process that died: say so, keep them."""
        cutoff = now() - older_than
        async with self.sessions.begin() as s:
            q = select(SnapshotRow.id).where(SnapshotRow.status == "running",
                                             SnapshotRow.created_at <= cutoff)
            if owner is not None:
                q = q.where(SnapshotRow.owner == owner)
            ids = list((await s.scalars(q)).all())
            if ids:
                await s.execute(update(SnapshotRow).where(SnapshotRow.id.in_(ids)).values(
                    status="interrupted",
                    error=f"capture interrupted ({why}); evidence saved before that "
                          "is kept",
                    finished_at=now()))
        return ids

    async def audit(self, actor: str, action: str, target: str = "", *,
                    snapshot_id: str | None = None, **detail: Any) -> None:
        async with self._writing() as c:
            await c.execute(insert(AuditRow).values(
                at=now(), actor=actor, action=action, target=target,
                snapshot_id=snapshot_id, detail=detail))

    # -- reading -----------------------------------------------------------
    async def resolve_id(self, text: str) -> str:
        """Full id or a unique prefix of at least 4 characters."""
        text = text.strip().lower()
        if not is_id_prefix(text):
            raise SnapshotNotFound(f"'{text}' is not a snapshot id (8 letters/digits)")
        async with self.sessions() as s:
            ids = list((await s.scalars(
                select(SnapshotRow.id).where(SnapshotRow.id.startswith(text)).limit(3)
            )).all())
        if not ids:
            raise SnapshotNotFound(f"no snapshot {text}")
        if len(ids) > 1 and text not in ids:
            raise SnapshotNotFound(f"{text} is ambiguous: {', '.join(ids)}…")
        return text if text in ids else ids[0]

    async def get_snapshot(self, snapshot_id: str) -> SnapshotView:
        # a full id needs no prefix lookup first (a missing one is caught below)
        sid = (snapshot_id if len(snapshot_id) == ID_LENGTH and is_id_prefix(snapshot_id)
               else await self.resolve_id(snapshot_id))
        async with self.sessions() as s:
            row = await s.get(SnapshotRow, sid, options=[
                selectinload(SnapshotRow.collectors), selectinload(SnapshotRow.findings),
                selectinload(SnapshotRow.artifacts).load_only(
                    ArtifactRow.name, ArtifactRow.collector, ArtifactRow.size,
                    ArtifactRow.stored_size, ArtifactRow.sha256, ArtifactRow.content_type),
            ])
            if row is None:
                raise SnapshotNotFound(f"no snapshot {sid}")
            findings = _latest(row.findings)
            return SnapshotView(
                **_summary_fields(row, findings),
                finished_at=_utc(row.finished_at), error=row.error, summary=row.summary,
                collectors=[CollectorView(name=c.collector, status=c.status, error=c.error,
                                          duration_s=c.duration_ms / 1000,
                                          warnings=c.warnings) for c in row.collectors],
                finding_list=findings,
                artifacts=[ArtifactView(name=a.name, collector=a.collector, size=a.size,
                                        stored_size=a.stored_size, sha256=a.sha256,
                                        content_type=a.content_type) for a in row.artifacts],
                parsed={c.collector: c.parsed for c in row.collectors if c.parsed},
            )

    async def list_snapshots(self, host: str | None = None, limit: int = 20
                             ) -> list[SnapshotSummary]:
        async with self.sessions() as s:
            q = select(SnapshotRow).options(selectinload(SnapshotRow.findings)).order_by(
                SnapshotRow.created_at.desc()).limit(limit)
            if host:
                q = q.where(SnapshotRow.host == host)
            rows = (await s.scalars(q)).all()
            out = []
            for r in rows:
                findings = _latest(r.findings)
                out.append(SnapshotSummary(**_summary_fields(r, findings)))
            return out

    async def snapshot_ids(self, *, since: datetime | None = None, host: str | None = None,
                           limit: int = 10_000) -> list[str]:
        """Ids of the snapshots taken since then (of one host), oldest first."""
        async with self.sessions() as s:
            q = select(SnapshotRow.id).order_by(SnapshotRow.created_at).limit(limit)
            if since is not None:
                q = q.where(SnapshotRow.created_at >= since)
            if host:
                q = q.where(SnapshotRow.host == host)
            return list((await s.scalars(q)).all())

    async def previous_snapshot(self, snapshot_id: str) -> str | None:
        """The snapshot of the same host taken before this one."""
        sid = await self.resolve_id(snapshot_id)
        async with self.sessions() as s:
            row = await s.get(SnapshotRow, sid)
            if row is None:
                return None
            prev = await s.scalar(
                select(SnapshotRow.id).where(SnapshotRow.host == row.host,
                                             SnapshotRow.created_at < row.created_at)
                .order_by(SnapshotRow.created_at.desc()).limit(1))
            return prev

    async def get_artifact(self, snapshot_id: str, name: str) -> tuple[ArtifactView, bytes]:
        sid = await self.resolve_id(snapshot_id)
        async with self.sessions() as s:
            rows = (await s.scalars(select(ArtifactRow).where(
                ArtifactRow.snapshot_id == sid))).all()
            match = [a for a in rows if a.name == name] or [
                a for a in rows if a.name.endswith("/" + name) or a.name.startswith(name)]
            if not match:
                names = ", ".join(a.name for a in rows) or "none"
                raise SnapshotNotFound(f"snapshot {sid} has no raw file {name!r} (has: {names})")
            a = match[0]
            # a 30 MB dump takes ~0.1 s to decompress and hash: not on the event loop
            unpack = asyncio.to_thread if a.size > UNPACK_INLINE else _call
            data, digest = await unpack(_unpack, a.data, a.size)
            if digest != a.sha256:
                raise DatabaseError(f"raw file {a.name} of {sid} is corrupt (sha256 mismatch)")
            return ArtifactView(name=a.name, collector=a.collector, size=a.size,
                                stored_size=a.stored_size, sha256=a.sha256,
                                content_type=a.content_type), data

    async def get_dump_view(self, snapshot_id: str, n: int, version: str) -> bytes | None:
        """The explorer's kept page of a snapshot's n-th dump (bot/snapshots/dumpworker.py)."""
        async with self.engine.connect() as c:
            return await c.scalar(select(DumpViewRow.data).where(
                DumpViewRow.snapshot_id == snapshot_id, DumpViewRow.n == n,
                DumpViewRow.version == version))

    async def put_dump_view(self, snapshot_id: str, n: int, version: str, data: bytes) -> None:
        """Kept once: a replica that computed it too keeps the first one."""
        try:
            async with self._writing() as c:
                await c.execute(insert(DumpViewRow).values(
                    snapshot_id=snapshot_id, n=n, version=version, data=data,
                    created_at=now()))
        except IntegrityError:
            pass

    async def audit_events(self, *, snapshot_id: str | None = None, action: str | None = None,
                           limit: int = 100) -> list[AuditView]:
        async with self.sessions() as s:
            q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if snapshot_id:
                q = q.where(AuditRow.snapshot_id == snapshot_id)
            if action:
                q = q.where(AuditRow.action == action)
            return [AuditView(at=_utc(r.at) or now(), actor=r.actor, action=r.action,
                              target=r.target, snapshot_id=r.snapshot_id, detail=r.detail)
                    for r in (await s.scalars(q)).all()]

    async def count_snapshots(self) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(SnapshotRow)) or 0)


async def _insert_findings(c: AsyncConnection, snapshot_id: str, findings: list[Finding],
                           finding_set: int = 1, rules_version: str = RULES_VERSION) -> None:
    if not findings:
        return
    at = now()
    await c.execute(insert(FindingRow), [dict(
        snapshot_id=snapshot_id, collector=f.collector, rule=f.rule, severity=str(f.severity),
        title=f.title, subject=f.subject, body=f.model_dump(mode="json"),
        finding_set=finding_set, rules_version=rules_version, analyzed_at=at,
    ) for f in findings])


async def _amend(c: AsyncConnection, snapshot_id: str, findings: list[Finding]) -> None:
    """Cross-collector findings that restate a stored one (same rule and
    subject: THREAD_CEILING with "memory is free") replace it in place, so the
    snapshot shows one finding with both facts; the others are added."""
    rows = (await c.execute(select(FindingRow.id, FindingRow.rule, FindingRow.subject).where(
        FindingRow.snapshot_id == snapshot_id, FindingRow.finding_set == 1)
        .order_by(FindingRow.id))).all()
    stored = {(rule, subject): fid for fid, rule, subject in rows}
    new: list[Finding] = []
    for f in findings:
        fid = stored.get((f.rule, f.subject))
        if fid is None:
            new.append(f)
            continue
        await c.execute(update(FindingRow).where(FindingRow.id == fid).values(
            severity=str(f.severity), title=f.title, collector=f.collector,
            body=f.model_dump(mode="json")))
    await _insert_findings(c, snapshot_id, new)


#: raw files bigger than this are decompressed and hashed in a worker thread
UNPACK_INLINE = 1 << 20


def _unpack(blob: bytes, size: int) -> tuple[bytes, str]:
    data = zstandard.ZstdDecompressor().decompress(blob, max_output_size=size)
    return data, hashlib.sha256(data).hexdigest()


async def _call(f: Any, *args: Any) -> Any:
    return f(*args)


def _summary_fields(row: SnapshotRow, findings: list[Finding]) -> dict[str, Any]:
    return dict(
        id=row.id, host=row.host, host_group=row.host_group, status=row.status,
        trigger=row.trigger, requested_by=row.requested_by,
        created_at=_utc(row.created_at),
        duration_s=row.duration_ms / 1000 if row.duration_ms is not None else None,
        findings=len(findings),
        critical=sum(1 for f in findings if f.severity is Severity.CRITICAL),
        headline=findings[0].title if findings else "",
    )
