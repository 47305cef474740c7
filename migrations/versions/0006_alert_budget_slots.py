"""alert budget: a slot per capture a minute, with the time it was last taken

The budget was counted per clock minute, (minute, n) unique, with the previous
minute's share estimated: not the sliding minute it promises. Now the table
holds budget_per_minute slots; a capture takes a slot last taken more than
60 s ago (a conditional write, so across replicas too). Slots taken in the
minute before the upgrade are not carried over (at most one extra minute's
budget, once).

Revision ID: 0006_alert_budget_slots
Revises: 0005_finding_sets
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_alert_budget_slots"
down_revision = "0005_finding_sets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("alert_budget")
    op.create_table(
        "alert_budget",
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_budget")
    op.create_table(
        "alert_budget",
        sa.Column("minute", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
    )
