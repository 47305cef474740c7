"""slack posts: where each snapshot was posted, and posts pending for Slack

Revision ID: 0002_slack_posts
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_slack_posts"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slack_posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(16),
                  sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("details_posted", sa.Boolean, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_slack_posts_snapshot_id", "slack_posts", ["snapshot_id"])
    op.create_index("ix_slack_posts_state", "slack_posts", ["state"])


def downgrade() -> None:
    op.drop_table("slack_posts")
