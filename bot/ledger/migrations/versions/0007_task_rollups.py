"""Task rollups: when each task finished, its title and spend totals, and its pull requests.

Reports then filter, page and sum tasks in SQL (docs/ledger.md). Existing tasks are filled in
from the rows already stored, so an upgraded ledger reads the same as a re-derived one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 8)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("finished_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("title", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("tokens", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("usd", MONEY, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("unpriced_tokens", sa.Float(), nullable=False, server_default="0")
        )
    op.create_index("ix_tasks_repository_finished_at", "tasks", ["repository_id", "finished_at"])
    op.create_table(
        "task_pull_requests",
        sa.Column(
            "task_id",
            BIG_ID,
            sa.ForeignKey("tasks.id", ondelete="CASCADE", name="fk_task_pull_requests_task_id"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("pr_number", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("repository_id", BIG_ID, nullable=False),
    )
    op.create_index(
        "ix_task_pull_requests_repository_pr_number",
        "task_pull_requests",
        ["repository_id", "pr_number"],
    )
    _fill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_task_pull_requests_repository_pr_number", "task_pull_requests")
    op.drop_table("task_pull_requests")
    op.drop_index("ix_tasks_repository_finished_at", "tasks")
    with op.batch_alter_table("tasks") as batch:
        for name in ("unpriced_tokens", "usd", "tokens", "title", "finished_at"):
            batch.drop_column(name)


def _fill(connection: sa.Connection) -> None:
    """Compute the new columns of every stored task from the rows of this revision only
    (reflected, not the models: a later model must not change what this migration reads)."""
    meta = sa.MetaData()
    names = ("tasks", "attempts", "pull_requests", "events", "commits", "task_pull_requests")
    t = {name: sa.Table(name, meta, autoload_with=connection) for name in names}
    repo_ids = connection.execute(sa.select(t["tasks"].c.repository_id).distinct()).scalars()
    for repo_id in list(repo_ids):
        _fill_repository(connection, t, repo_id)


def _fill_repository(connection: sa.Connection, t: dict[str, sa.Table], repo_id: int) -> None:
    from bot.engine.attribution import finished_at
    from bot.engine.records import CLOSED, MERGED, Event, PullRequest

    mine = t["tasks"].c.repository_id == repo_id
    prs = {
        r.number: PullRequest(
            "", r.number, title=r.title, state=r.state, closed_at=_utc(r.closed_at)
        )
        for r in connection.execute(
            sa.select(t["pull_requests"]).where(t["pull_requests"].c.repository_id == repo_id)
        )
    }
    e = t["events"]
    events = [
        Event(r.key, r.kind, _utc(r.at), "", r.pr_number, r.sha)
        for r in connection.execute(
            sa.select(e).where(e.c.repository_id == repo_id, e.c.kind.in_((MERGED, CLOSED)))
        )
    ]
    c = t["commits"]
    times = {
        r.sha: _utc(r.committed_at)
        for r in connection.execute(
            sa.select(c.c.sha, c.c.committed_at).where(c.c.repository_id == repo_id)
        )
    }
    a = t["attempts"]
    commits_of: dict[int, list[str]] = {}
    for r in connection.execute(
        sa.select(a.c.task_id, a.c.commits).join(t["tasks"], t["tasks"].c.id == a.c.task_id)
        .where(mine)
    ):  # fmt: skip
        commits_of.setdefault(r.task_id, []).extend(r.commits)
    ends: dict[int | None, list[Event]] = {}
    for e in events:
        ends.setdefault(e.pr_number, []).append(e)
    updates, links = [], []
    for r in connection.execute(sa.select(t["tasks"]).where(mine)).all():
        task = _Stored(r.status, tuple(r.pr_numbers), (_Attempt(tuple(commits_of.get(r.id, ()))),))
        numbers = list(dict.fromkeys(task.pr_numbers))
        own = [e for n in numbers for e in ends.get(n, ())]
        spend = r.spend.values()
        values = {
            "finished_at": finished_at(task, prs, own, times),  # type: ignore[arg-type]
            "title": next((prs[n].title for n in task.pr_numbers if n in prs), ""),
            "tokens": sum(s["tokens"] for s in spend),
            "usd": sum((Decimal(s["usd"]) for s in spend), Decimal(0)),
            "unpriced_tokens": sum(s["unpriced_tokens"] for s in spend),
        }
        updates.append({"row_id": r.id, **_bind(values)})
        links += [{"task_id": r.id, "pr_number": n, "repository_id": repo_id} for n in numbers]
    if updates:  # executemany: one round trip per batch, not per task
        tasks = t["tasks"]
        update = tasks.update().where(tasks.c.id == sa.bindparam("row_id"))
        connection.execute(
            update.values({k: sa.bindparam(k) for k in updates[0] if k != "row_id"}), updates
        )
    if links:
        connection.execute(t["task_pull_requests"].insert(), links)


class _Stored(NamedTuple):
    """What ``finished_at`` reads of a task."""

    status: str
    pr_numbers: tuple[int, ...]
    attempts: tuple[_Attempt, ...]


class _Attempt(NamedTuple):
    commits: tuple[str, ...]


def _utc(value: Any) -> datetime | None:
    """A stored timestamp as UTC-aware (SQLite gives naive UTC, or text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bind(values: dict[str, Any]) -> dict[str, Any]:
    """Plain column values: the reflected table has no money or UTC types."""
    out = dict(values)
    if op.get_bind().dialect.name == "sqlite":
        out["usd"] = float(out["usd"])
        if out["finished_at"] is not None:
            out["finished_at"] = out["finished_at"].replace(tzinfo=None)
    return out
