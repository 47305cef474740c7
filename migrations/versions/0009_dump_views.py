"""dump views: the thread-dump explorer's page of a stored dump, kept once
computed so a first view elsewhere or after a restart does not parse it

Revision ID: 0009_dump_views
Revises: 0008_slack_fleet_posts
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_dump_views"
down_revision = "0008_slack_fleet_posts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dump_views",
        sa.Column("snapshot_id", sa.String(16),
                  sa.ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dump_views")
