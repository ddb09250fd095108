"""The webhook inbox (deliveries), installation state, and pull requests' head sha.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of bot.ledger.schema's types: a migration must not change when the models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
PENDING = "status IN ('received', 'processing')"


def upgrade() -> None:
    with op.batch_alter_table("installations") as batch:
        batch.add_column(sa.Column("state", sa.String(), nullable=False, server_default="active"))
    with op.batch_alter_table("pull_requests") as batch:
        batch.add_column(sa.Column("head_sha", sa.String(), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("guid", sa.String(), primary_key=True, nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=True),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("repository", sa.String(), nullable=True),
        sa.Column("ordering_key", sa.String(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("skipped", JSON, nullable=False),
    )
    op.create_index("ix_deliveries_status_available_at", "deliveries", ["status", "available_at"])
    for name, columns in (
        ("ix_deliveries_pending_received_at", ["received_at", "guid"]),
        ("ix_deliveries_pending_ordering_key", ["ordering_key", "received_at", "guid"]),
    ):
        op.create_index(
            name,
            "deliveries",
            columns,
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )


def downgrade() -> None:
    op.drop_table("deliveries")
    with op.batch_alter_table("pull_requests") as batch:
        batch.drop_column("head_sha")
    with op.batch_alter_table("installations") as batch:
        batch.drop_column("state")
