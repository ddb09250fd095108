"""Initial ledger schema: installations, repositories, pull requests, commits with their usage
lines and files, events, and the derived tasks and attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of bot.ledger.schema's types: a migration must not change when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
JSON_OR_NULL = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 8)


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, primary_key=True, autoincrement=True, nullable=False)


def _parent(table: str, column: str, target: str, primary_key: bool = False) -> sa.Column:
    key = sa.ForeignKey(target, name=f"fk_{table}_{column}", ondelete="CASCADE")
    return sa.Column(column, BIG_ID, key, nullable=False, primary_key=primary_key)


def _str(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "installations",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False, nullable=False),
        _str("account_login", nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "repositories",
        _id(),
        sa.Column(
            "installation_id",
            sa.BigInteger(),
            sa.ForeignKey("installations.id", name="fk_repositories_installation_id"),
            nullable=True,
        ),
        _str("full_name", nullable=False),
        sa.UniqueConstraint("full_name", name="uq_repositories_full_name"),
    )
    op.create_table(
        "pull_requests",
        _id(),
        _parent("pull_requests", "repository_id", "repositories.id"),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        _str("head_ref"),
        _str("state", nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        _str("merge_sha"),
        sa.UniqueConstraint("repository_id", "number", name="uq_pull_requests_repository_number"),
    )
    identity = []
    for who in ("author", "committer"):
        identity += [
            _str(f"{who}_name", nullable=False),
            _str(f"{who}_email", nullable=False),
            _str(f"{who}_github_login"),
            sa.Column(f"{who}_github_id", sa.BigInteger(), nullable=True),
            _str(f"{who}_github_type"),
        ]
    op.create_table(
        "commits",
        _id(),
        _parent("commits", "repository_id", "repositories.id"),
        _str("sha", nullable=False),
        sa.Column("parents", JSON, nullable=False),
        *identity,
        sa.Column("authored_at", TIMESTAMP, nullable=False),
        sa.Column("committed_at", TIMESTAMP, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        _str("agent"),
        _str("agent_role", nullable=False),
        _str("model"),
        _str("task"),
        _str("task_class"),
        sa.Column("attempt", sa.Integer(), nullable=True),
        _str("tier"),
        _str("strategy"),
        sa.Column("route_score", sa.Float(), nullable=True),
        sa.Column("has_context", sa.Boolean(), nullable=True),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        _str("branch"),
        sa.Column("is_fixup", sa.Boolean(), nullable=False),
        sa.Column("reverts", JSON, nullable=False),
        sa.Column("survival", sa.Float(), nullable=True),
        sa.Column("lines_added", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("evidence", JSON_OR_NULL, nullable=True),
        sa.Column("facts_hash", sa.String(32), nullable=False),
        sa.UniqueConstraint("repository_id", "sha", name="uq_commits_repository_sha"),
    )
    op.create_index(
        "ix_commits_repository_committed_at", "commits", ["repository_id", "committed_at"]
    )
    op.create_index("ix_commits_repository_task", "commits", ["repository_id", "task"])
    op.create_index("ix_commits_repository_pr_number", "commits", ["repository_id", "pr_number"])
    op.create_table(
        "usage_lines",
        _parent("usage_lines", "commit_id", "commits.id", primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, nullable=False),
        _str("model", nullable=False),
        _str("tier"),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("usd", MONEY, nullable=True),
    )
    op.create_table(
        "file_changes",
        _parent("file_changes", "commit_id", "commits.id", primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
    )
    op.create_table(
        "events",
        _id(),
        _parent("events", "repository_id", "repositories.id"),
        _str("key", nullable=False),
        _str("kind", nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        _str("sha"),
        _str("source", nullable=False),
        sa.UniqueConstraint("repository_id", "key", name="uq_events_repository_key"),
    )
    op.create_index(
        "ix_events_repository_pr_number_at", "events", ["repository_id", "pr_number", "at"]
    )
    op.create_table(
        "tasks",
        _id(),
        _parent("tasks", "repository_id", "repositories.id"),
        _str("key", nullable=False),
        sa.Column("pr_numbers", JSON, nullable=False),
        _str("task_class", nullable=False),
        sa.Column("class_inferred", sa.Boolean(), nullable=False),
        _str("tier"),
        _str("strategy"),
        sa.Column("has_context", sa.Boolean(), nullable=True),
        sa.Column("route_score", sa.Float(), nullable=True),
        _str("complexity", nullable=False),
        _str("agent"),
        _str("model"),
        _str("status", nullable=False),
        sa.Column("first_pass", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("bounces", JSON, nullable=False),
        sa.Column("ci_first_pass", sa.Boolean(), nullable=True),
        sa.Column("review_first_pass", sa.Boolean(), nullable=True),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("survived", sa.Boolean(), nullable=True),
        sa.Column("agent_rework_commits", sa.Integer(), nullable=False),
        sa.Column("human_rework_commits", sa.Integer(), nullable=False),
        sa.Column("spend", JSON, nullable=False),
        sa.Column("computed_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("repository_id", "key", name="uq_tasks_repository_key"),
    )
    op.create_index(
        "ix_tasks_repository_tier_task_class", "tasks", ["repository_id", "tier", "task_class"]
    )
    op.create_table(
        "attempts",
        _parent("attempts", "task_id", "tasks.id", primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _str("tier"),
        _str("model"),
        sa.Column("commits", JSON, nullable=False),
        _str("outcome", nullable=False),
        sa.Column("bounces", JSON, nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("usd", MONEY, nullable=False),
        sa.Column("unpriced_tokens", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "attempts",
        "tasks",
        "events",
        "file_changes",
        "usage_lines",
        "commits",
        "pull_requests",
        "repositories",
        "installations",
    ):
        op.drop_table(table)  # their indexes go with them
