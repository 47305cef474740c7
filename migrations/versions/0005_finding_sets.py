"""finding sets: findings grouped per analysis, with the rules version that made them

A snapshot's findings are analysed again (`hostsnap reanalyze`) with later
rules; each analysis adds a set beside the older ones, the latest is shown.
Rows stored before this revision become set 1 with rules version "0".

Revision ID: 0005_finding_sets
Revises: 0004_warm_holds
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_finding_sets"
down_revision = "0004_warm_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a NOT NULL column with a default otherwise
    with op.batch_alter_table("findings") as b:
        b.add_column(sa.Column("finding_set", sa.Integer, nullable=False, server_default="1"))
        b.add_column(sa.Column("rules_version", sa.String(32), nullable=False,
                               server_default="0"))
        b.add_column(sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=True))
        b.create_index("ix_findings_snapshot_set", ["snapshot_id", "finding_set"])


def downgrade() -> None:
    with op.batch_alter_table("findings") as b:
        b.drop_index("ix_findings_snapshot_set")
        b.drop_column("analyzed_at")
        b.drop_column("rules_version")
        b.drop_column("finding_set")
