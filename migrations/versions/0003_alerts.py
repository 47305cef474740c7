"""alerts: received alerts (unique delivery key), host cooldowns, capture budget

Revision ID: 0003_alerts
Revises: 0002_slack_posts
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_alerts"
down_revision = "0002_slack_posts"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_key", sa.String(64), nullable=False),
        sa.Column("receiver", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("alertname", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(64), nullable=False),
        sa.Column("starts_at", TS),
        sa.Column("ends_at", TS),
        sa.Column("labels", JSONType, nullable=False),
        sa.Column("annotations", JSONType, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("snapshot_id", sa.String(16),
                  sa.ForeignKey("snapshots.id", ondelete="SET NULL")),
        sa.Column("covered_by", sa.Integer),
        sa.Column("received_at", TS, nullable=False),
        # the de-duplication of repeated deliveries, across replicas
        sa.UniqueConstraint("delivery_key", name="uq_alerts_delivery_key"),
    )
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_index("ix_alerts_outcome", "alerts", ["outcome"])
    op.create_index("ix_alerts_snapshot_id", "alerts", ["snapshot_id"])
    op.create_index("ix_alerts_received_at", "alerts", ["received_at"])
    op.create_table(
        "alert_cooldowns",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("until", TS, nullable=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "alert_budget",
        sa.Column("minute", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_budget")
    op.drop_table("alert_cooldowns")
    op.drop_table("alerts")
