"""capture jobs: one row per host capture, shared by every bot replica

A host has at most one active (queued or running) job: a partial unique
index, so two replicas asked for one host at once insert one job and the
other joins it. The replica running a job renews `lease_until`; a job whose
lease ran out belongs to a replica that died, and a survivor marks it
interrupted (bot/capture/jobs.py).

Revision ID: 0007_capture_jobs
Revises: 0006_alert_budget_slots
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_capture_jobs"
down_revision = "0006_alert_budget_slots"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "capture_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("snapshot_id", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("lease_until", TS, nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False, server_default="cli"),
        sa.Column("requested_by", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("error", sa.Text),
    )
    op.create_index("ux_capture_jobs_active_host", "capture_jobs", ["host"], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index("ix_capture_jobs_state_lease", "capture_jobs", ["state", "lease_until"])
    op.create_index("ix_capture_jobs_snapshot", "capture_jobs", ["snapshot_id"])


def downgrade() -> None:
    op.drop_table("capture_jobs")
