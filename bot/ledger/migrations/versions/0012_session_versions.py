"""Session versions: /logout moves a user's on, so a copied session cookie stops signing in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# A frozen copy of bot.ledger.schema's type: a migration must not change when the models do.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "session_versions",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("signed_out_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_versions")
