"""slack fleet posts: the message of a capture of several hosts, kept in the
database like a snapshot's post, so that a restart or another replica posts it
when Slack is back and the hosts' summaries waiting for its thread go into it

Revision ID: 0008_slack_fleet_posts
Revises: 0007_capture_jobs
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_slack_fleet_posts"
down_revision = "0007_capture_jobs"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "slack_fleet_posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("ts", sa.String(32)),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("hosts", JSON, nullable=False),
        sa.Column("snapshots", JSON, nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_slack_fleet_posts_state", "slack_fleet_posts", ["state"])


def downgrade() -> None:
    op.drop_table("slack_fleet_posts")
