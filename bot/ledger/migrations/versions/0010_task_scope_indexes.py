"""Indexes for a delivery's task scope: commits by branch, events by sha.

The worker derives again only the tasks a delivery's records belong to
(``bot.ledger.store.load_task_scope``): it looks commits up by branch (commits pushed before
their pull request was opened) and revert events by the sha they revert. Without these indexes
both read the repository's whole history, which the scope is there to avoid.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_commits_repository_branch", "commits", ["repository_id", "branch"])
    op.create_index("ix_events_repository_sha", "events", ["repository_id", "sha"])


def downgrade() -> None:
    op.drop_index("ix_events_repository_sha", table_name="events")
    op.drop_index("ix_commits_repository_branch", table_name="commits")
