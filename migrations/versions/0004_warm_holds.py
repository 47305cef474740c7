"""warm_holds: who wants which host kept warm, shared by every bot replica

Revision ID: 0004_warm_holds
Revises: 0003_alerts
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_warm_holds"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "warm_holds",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(160), primary_key=True),
        sa.Column("until", TS),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("warm_holds")
