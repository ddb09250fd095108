"""Store an audit's records in the ledger (``audit --db``): the same tables the App uses."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from bot.engine.attribution import Task
from bot.engine.records import CommitFacts, Event, PullRequest
from bot.ledger.db import make_engine, migrate
from bot.ledger.store import (
    replace_tasks,
    upsert_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)

LOCAL_INSTALLATION = 0  # local audits belong to no GitHub installation
LOCAL_ACCOUNT = "local"


def save(
    url: str,
    repository: str,
    facts: Sequence[CommitFacts],
    prs: Sequence[PullRequest],
    events: Sequence[Event],
    tasks: Sequence[Task],
) -> int:
    """Migrate, then upsert everything in one transaction; returns the repository's id."""
    engine = make_engine(url)
    try:
        migrate(engine)
        with Session(engine) as session:
            upsert_installation(session, LOCAL_INSTALLATION, LOCAL_ACCOUNT)
            repo_id = upsert_repository(session, LOCAL_INSTALLATION, repository)
            upsert_pull_requests(session, repo_id, prs)
            upsert_commits(session, repo_id, facts)
            upsert_events(session, repo_id, events)
            replace_tasks(session, repo_id, tasks, prs=prs, events=events)
            session.commit()
        return repo_id
    finally:
        engine.dispose()
