"""Where each pull request's cost comment is and what it says.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copies of bot.ledger.schema's types: a migration must not change when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pr_comments",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True, nullable=False),
        sa.Column(
            "repository_id",
            BIG_ID,
            sa.ForeignKey(
                "repositories.id", name="fk_pr_comments_repository_id", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("pr_number", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.BigInteger(), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("head_sha", sa.String(), nullable=False),
        sa.Column("event_time", TIMESTAMP, nullable=False),
        sa.UniqueConstraint(
            "repository_id", "pr_number", name="uq_pr_comments_repository_pr_number"
        ),
    )


def downgrade() -> None:
    op.drop_table("pr_comments")
