"""Database rows. Findings and parsed summaries are JSON, so rules and
renderers can change without a migration; raw artifacts are zstd bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine


class JSONType(TypeDecorator[Any]):
    """JSON; JSONB on PostgreSQL. The PostgreSQL dialect (~25 ms to import) is
    loaded only when a PostgreSQL database is used, not by every CLI start."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class Base(DeclarativeBase):
    pass


class SnapshotRow(Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), index=True)
    host_group: Mapped[str] = mapped_column(String(255), default="")
    #: running, complete, partial, failed, interrupted
    status: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="cli")
    requested_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: replica/process that runs the capture, to tell "interrupted" from "running"
    owner: Mapped[str] = mapped_column(String(255), default="")

    collectors: Mapped[list[CollectorRunRow]] = relationship(
        back_populates="snapshot", cascade="all, delete-orphan", order_by="CollectorRunRow.id"
    )
    findings: Mapped[list[FindingRow]] = relationship(
        back_populates="snapshot", cascade="all, delete-orphan", order_by="FindingRow.id"
    )
    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="snapshot", cascade="all, delete-orphan", order_by="ArtifactRow.id"
    )

    __table_args__ = (Index("ix_snapshots_host_created", "host", "created_at"),)


class CollectorRunRow(Base):
    __tablename__ = "collector_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    collector: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[str]] = mapped_column(JSONType, default=list)
    parsed: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    snapshot: Mapped[SnapshotRow] = relationship(back_populates="collectors")


class FindingRow(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    collector: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: one analysis of the snapshot: 1 at capture, +1 per `reanalyze`; views show the latest
    finding_set: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    rules_version: Mapped[str] = mapped_column(String(32), default="0", server_default="0")
    analyzed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    snapshot: Mapped[SnapshotRow] = relationship(back_populates="findings")

    __table_args__ = (Index("ix_findings_snapshot_set", "snapshot_id", "finding_set"),)


class ArtifactRow(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    collector: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64), default="text/plain")
    size: Mapped[int] = mapped_column(Integer)
    stored_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    compression: Mapped[str] = mapped_column(String(16), default="zstd")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    snapshot: Mapped[SnapshotRow] = relationship(back_populates="artifacts")


class AuditRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    #: capture, view_raw, refused, trust_host_key, ...
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    snapshot_id: Mapped[str | None] = mapped_column(String(16), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class SlackPostRow(Base):
    """Where a snapshot was posted in Slack, and whether Slack has seen its
    latest state: what lets the bot update its messages after a restart and
    deliver them after a Slack outage (bot/slack/posts.py)."""

    __tablename__ = "slack_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    #: the message showing this snapshot (None: never reached Slack)
    ts: Mapped[str | None] = mapped_column(String(32))
    #: the thread that message sits in (None: top level of the channel)
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    #: running (progress shown), pending (Slack must get the stored state), done
    state: Mapped[str] = mapped_column(String(16), index=True)
    details_posted: Mapped[bool] = mapped_column(default=False)
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class FleetPostRow(Base):
    """The message of a capture of several hosts (the fleet table), kept like
    a snapshot's post: a restart or another replica can still post it when
    Slack is back, and the hosts' summaries waiting for its thread
    (slack_posts `awaiting_thread`) then go into it (bot/slack/posts.py)."""

    __tablename__ = "slack_fleet_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    #: the thread the command was typed in (None: top level of the channel)
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    #: the fleet message (None: never reached Slack)
    ts: Mapped[str | None] = mapped_column(String(32))
    #: what was asked for (`@payments`, `web-01 web-02`)
    label: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    #: the host names, in the order asked
    hosts: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: host -> snapshot id, for the hosts that got one
    snapshots: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    #: host -> why it has no saved snapshot (could not start, ...)
    errors: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    #: running (captures under way), pending, delivering, done
    state: Mapped[str] = mapped_column(String(16), index=True)
    #: the process running the captures (as snapshots.owner)
    owner: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class AlertRow(Base):
    """One alert instance in one state (firing, resolved) as received from a
    webhook, and what hostsnap did about it (bot/alerts/). `delivery_key` is
    unique: a repeated delivery — a retry, the other half of an HA pair, a
    group re-sent with one more alert, another bot replica — is not a new row,
    so it can never start a second capture."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)
    receiver: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(128), index=True)
    alertname: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(64), default="")
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    url: Mapped[str] = mapped_column(Text, default="")
    #: the inventory host (or, when none matched, what the labels said)
    host: Mapped[str] = mapped_column(String(255), default="")
    route: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str | None] = mapped_column(String(32))
    #: received, captured, covered, budget, no_route, no_host, unknown_host, ...
    outcome: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    snapshot_id: Mapped[str | None] = mapped_column(
        ForeignKey("snapshots.id", ondelete="SET NULL"), index=True)
    #: the alert whose capture covers this one (host in cooldown)
    covered_by: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AlertCooldownRow(Base):
    """A host captured because of an alert, and until when further alerts for
    it are only recorded. Claimed with a conditional write, so two replicas
    receiving alerts for one host start one capture."""

    __tablename__ = "alert_cooldowns"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    alert_id: Mapped[int] = mapped_column(Integer)


class AlertBudgetRow(Base):
    """One of the budget_per_minute capture slots and when it was last taken.
    A capture takes a slot last taken more than 60 s ago (a conditional write),
    so the replicas together start at most budget_per_minute captures in any
    60 s: the slots taken within the last 60 s are exactly those starts."""

    __tablename__ = "alert_budget"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    alert_id: Mapped[int] = mapped_column(Integer)


class WarmHoldRow(Base):
    """Somebody wants a warm session to `host`: a Slack user (`slack:U123`) or
    an alert (`alert:<fingerprint>`, until it resolves or `until`). Every bot
    replica keeps a session to every held host, so a capture works whichever
    replica Slack or the alert sender reaches (bot/warmholds.py)."""

    __tablename__ = "warm_holds"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(160), primary_key=True)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaptureJobRow(Base):
    """One host capture asked of the bot, shared by its replicas
    (bot/capture/jobs.py): at most one active (queued, running) per host, so
    a second request anywhere joins it; `owner` renews `lease_until` while it
    runs, and a survivor interrupts a job whose lease ran out."""

    __tablename__ = "capture_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(255))
    #: queued, running, done, failed, interrupted
    state: Mapped[str] = mapped_column(String(16))
    #: chosen when the job is queued: followers know where the result will be
    snapshot_id: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(255))
    lease_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trigger: Mapped[str] = mapped_column(String(32), default="cli")
    requested_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)

    # The arbiter of "one active job per host", the partial unique index
    # ux_capture_jobs_active_host (host WHERE state IN ('queued', 'running')),
    # is made by migration 0007 only: declared here, its postgresql_where
    # would import SQLAlchemy's PostgreSQL dialect into every CLI command
    # (tests/cli/test_import_budget.py), and the schema comes from migrations.
    __table_args__ = (
        Index("ix_capture_jobs_state_lease", "state", "lease_until"),
        Index("ix_capture_jobs_snapshot", "snapshot_id"),
    )


class DumpViewRow(Base):
    """The thread-dump explorer's page of one stored dump, computed once
    (bot/snapshots/dumpworker.py: zstd'd JSON, a few hundred KB at most) so a
    first view on any replica, or after a restart, does not parse the dump."""

    __tablename__ = "dump_views"

    snapshot_id: Mapped[str] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the view's shape and the parsers' rules: another version is computed again
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
