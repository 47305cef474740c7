"""snapshots, collector runs, findings, artifacts, audit events

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("host_group", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("summary", JSONType, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
    )
    op.create_index("ix_snapshots_host", "snapshots", ["host"])
    op.create_index("ix_snapshots_status", "snapshots", ["status"])
    op.create_index("ix_snapshots_created_at", "snapshots", ["created_at"])
    op.create_index("ix_snapshots_host_created", "snapshots", ["host", "created_at"])

    op.create_table(
        "collector_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(16),
                  sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("collector", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("warnings", JSONType, nullable=False),
        sa.Column("parsed", JSONType, nullable=False),
    )
    op.create_index("ix_collector_runs_snapshot_id", "collector_runs", ["snapshot_id"])

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(16),
                  sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("collector", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("body", JSONType, nullable=False),
    )
    op.create_index("ix_findings_snapshot_id", "findings", ["snapshot_id"])
    op.create_index("ix_findings_rule", "findings", ["rule"])

    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(16),
                  sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("collector", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("stored_size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("compression", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("meta", JSONType, nullable=False),
    )
    op.create_index("ix_artifacts_snapshot_id", "artifacts", ["snapshot_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("snapshot_id", sa.String(16)),
        sa.Column("detail", JSONType, nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_snapshot_id", "audit_events", ["snapshot_id"])


def downgrade() -> None:
    for table in ("audit_events", "artifacts", "findings", "collector_runs", "snapshots"):
        op.drop_table(table)
