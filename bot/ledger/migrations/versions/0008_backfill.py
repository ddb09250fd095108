"""Backfill progress: per repository, the pull requests ``yield-auditor backfill`` has read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen copies of bot.ledger.schema's types: a migration must not change when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "backfill_progress",
        sa.Column(
            "repository_id",
            BIG_ID,
            sa.ForeignKey(
                "repositories.id", name="fk_backfill_progress_repository_id", ondelete="CASCADE"
            ),
            primary_key=True,
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("installation_id", sa.BigInteger(), nullable=False),
        sa.Column("done", JSON, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("backfill_progress")
