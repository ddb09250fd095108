"""A history with enough tasks for the routing scorecard to give numbers (docs/metrics.md).

The demo's history generator (``bot.demo.history``) with two tiers and two classes: docs ship
as well on economy as on frontier, bugfixes much less. Over ``WEEKS`` weeks, the bugfix cells
and docs on economy pass the scorecard's 30 tasks, docs on frontier stay short of them, so the
scorecard covers bugfix and says what would settle docs.
"""

from __future__ import annotations

import dataclasses
from unittest import mock

from sqlalchemy.orm import Session

from bot.demo import history
from bot.engine.attribution import attribute
from bot.ledger.store import (
    replace_tasks,
    upsert_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)

WEEKS = 16
CLASSES = {
    "docs": (0.5, {"economy": 7, "frontier": 3}, {"economy": 0.9, "frontier": 0.93}, 30_000),
    "bugfix": (0.5, {"economy": 5, "frontier": 5}, {"economy": 0.45, "frontier": 0.86}, 90_000),
}


def records(repository: str, weeks: int = WEEKS) -> tuple[list, list, list]:
    """Commits, pull requests and events of the history, renamed to ``repository``."""
    with mock.patch.multiple(history, WEEKS=weeks, CLASSES=CLASSES, TASKS_PER_WEEK=(9, 15)):
        ledger = history.history(seed=47)
    return tuple(  # type: ignore[return-value]
        [dataclasses.replace(r, repository=repository) for r in found]
        for found in (ledger.commits, ledger.pulls, ledger.events)
    )


def seed_routed(engine, installation: int, account: str, repository: str, weeks: int = WEEKS):
    """Store the history in the ledger for ``installation``; returns its tasks."""
    commits, pulls, events = records(repository, weeks)
    tasks = attribute(commits, pulls, events)
    with Session(engine) as session, session.begin():
        upsert_installation(session, installation, account)
        repo_id = upsert_repository(session, installation, repository)
        upsert_pull_requests(session, repo_id, pulls)
        upsert_events(session, repo_id, events)
        upsert_commits(session, repo_id, commits)
        replace_tasks(session, repo_id, tasks, prs=pulls, events=events)
    return tasks
