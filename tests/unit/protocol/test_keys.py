"""Names from untrusted text are bounded before the ledger indexes them (bot.protocol.keys)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.engine.analysis import Analyser
from bot.engine.facts import commit_facts
from bot.ledger.store import upsert_commits, upsert_installation, upsert_repository
from bot.protocol.commit import CommitInfo, Identity
from bot.protocol.keys import NAME_LIMIT, bounded

REPO = "octo/app"


@given(st.text(max_size=3 * NAME_LIMIT), st.text(max_size=3 * NAME_LIMIT))
def test_bounded_keeps_short_names_and_tells_long_ones_apart(a, b):
    assert len(bounded(a)) <= NAME_LIMIT
    if len(a) <= NAME_LIMIT:
        assert bounded(a) == a
    assert (bounded(a) == bounded(b)) == (a == b)


def test_a_commit_with_huge_trailers_and_branch_is_stored(ledger_engine):
    """PostgreSQL refuses an index row over 2,704 bytes: 3,000-character trailers and a branch
    must not make the commit unstorable (each column here is indexed)."""
    huge = "x" * 3000
    message = (
        f"Fix\n\nAgent-Trailers: 1\nAgent-Task: {huge}\nAgent-Task-Class: {huge}\n"
        f"Agent-Route: tier={huge}; strategy={huge}; model={huge}\n"
    )
    when = datetime(2026, 11, 2, tzinfo=UTC)
    info = CommitInfo(
        "a" * 40, message, Identity("Dev", "dev@example.com"), Identity("Dev", "dev@example.com"),
        when, when, branch=f"agent/{huge}",
    )  # fmt: skip
    fact = commit_facts(Analyser().analyse(info), REPO)
    assert fact.task.startswith("x" * 100) and len(fact.task) <= NAME_LIMIT
    with Session(ledger_engine) as session:
        upsert_installation(session, 1, "octo")
        repo = upsert_repository(session, 1, REPO)
        assert upsert_commits(session, repo, [fact]) == 1
        session.commit()
    with ledger_engine.connect() as connection:
        task, branch = connection.execute(sa.text("SELECT task, branch FROM commits")).one()
    assert (task, branch) == (fact.task, fact.branch)
