"""A hand-built history whose figures are computed by hand in docs/metrics.md."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from bot.engine.attribution import attribute
from bot.engine.records import (
    APPROVED,
    CI_FAILED,
    CI_PASSED,
    MERGED,
    REVERTED,
    CommitFacts,
    Event,
    FileChange,
    PullRequest,
    UsageLine,
)
from bot.ledger.store import (
    replace_tasks,
    upsert_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)
from bot.protocol.commit import Identity

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
INSTALLATION = 7
REPO = "acme/app"
BOT = Identity("agent", "agent@example.com")
HUMAN = Identity("Ada Lovelace", "ada@example.com")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def commit(
    sha,
    minutes,
    *,
    pr=None,
    tier="economy",
    tokens=1000,
    usd="0.01",
    agent=True,
    subject="fix: a bug",
    survival=None,
    task=None,
    attempt=None,
    task_class=None,
    files=(("app/x.py", 10, 2),),
    model="claude-haiku-4-5",
    score=None,
    context=None,
):
    usage = (
        ()
        if not agent
        else (UsageLine(model, tier, tokens, None if usd is None else Decimal(usd)),)
    )
    return CommitFacts(
        sha=sha, repository=REPO, parents=("p",), author=BOT if agent else HUMAN,
        committer=BOT if agent else HUMAN, authored_at=at(minutes), committed_at=at(minutes),
        subject=subject, agent="claude-code" if agent else None,
        agent_role="authored" if agent else "none", model=model if agent else None, task=task,
        task_class=task_class, attempt=attempt, tier=tier if agent else None, usage=usage,
        files=tuple(FileChange(*f) for f in files), pr_number=pr, survival=survival,
        route_score=score, has_context=context,
    )  # fmt: skip


def event(kind, minutes, pr=None, sha=None):
    return Event(f"{kind}:{pr}:{sha}:{minutes}", kind, at(minutes), REPO, pr, sha, "test")


def pr(number, state="merged", title="", labels=()):
    return PullRequest(REPO, number, title=title, labels=labels, state=state,
                       closed_at=at(1000) if state != "open" else None)  # fmt: skip


def scenario():
    """Six agent tasks and one human pull request (docs/metrics.md, worked example)."""
    commits = [
        # A: CI fails, the agent fixes it on the same tier, merged.
        commit("a1", 0, pr=1, tokens=1000, usd="0.01"),
        commit("a2", 20, pr=1, tokens=500, usd="0.005"),
        # B: cheap attempt fails CI, escalated to frontier, merged: a mis-route.
        commit("b1", 0, pr=2, tokens=1000, usd="0.01"),
        commit("b2", 30, pr=2, tier="frontier", tokens=2000, usd="0.10", model="claude-opus-4-5"),
        # C: closed without merge.
        commit("c1", 0, pr=3, tokens=800, usd="0.008", subject="feat: add export"),
        # D: first pass on frontier; 60% of its lines survive.
        commit("d1", 0, pr=4, tier="frontier", tokens=1000, usd="0.05", survival=0.6,
               model="claude-opus-4-5", subject="docs: explain", files=(("docs/a.md", 5, 0),)),
        # E: merged, then reverted a day later.
        commit("e1", 0, pr=5, tokens=1000, usd="0.01"),
        # F: an unpriced model on the standard tier, merged, first pass.
        commit("f1", 0, pr=7, tier="standard", tokens=1000, usd=None, model="acme:finetune"),
        # A human-only pull request is not an agent task.
        commit("h1", 0, pr=6, agent=False),
    ]  # fmt: skip
    prs = [pr(1), pr(2), pr(3, "closed"), pr(4), pr(5), pr(6), pr(7)]
    events = [
        event(CI_FAILED, 10, 1), event(MERGED, 40, 1),
        event(CI_FAILED, 10, 2), event(MERGED, 60, 2),
        event(CI_PASSED, 5, 4), event(APPROVED, 6, 4), event(MERGED, 10, 4),
        event(MERGED, 10, 5), event(REVERTED, 10 + 24 * 60, sha="e1"),
        event(MERGED, 10, 7),
    ]  # fmt: skip
    return commits, prs, events


def _later(records, delta):
    """Records moved ``delta`` later (commits, events and pull requests)."""
    moved = []
    for r in records:
        if hasattr(r, "committed_at"):
            r = dataclasses.replace(r, committed_at=r.committed_at + delta,
                                    authored_at=r.authored_at + delta)  # fmt: skip
        elif hasattr(r, "kind"):
            r = dataclasses.replace(r, at=r.at + delta)
        elif r.closed_at is not None:
            r = dataclasses.replace(r, closed_at=r.closed_at + delta)
        moved.append(r)
    return moved


def second_week(title="Escalated fix"):
    """W46: G ships first pass, H escalates, I is abandoned, J stays open."""
    commits = [
        commit("g1", 0, pr=11),
        commit("h1", 0, pr=12, usd="0.02"),
        commit("h2", 30, pr=12, tier="frontier", tokens=2000, usd="0.20", model="claude-opus-4-5"),
        commit("i1", 0, pr=13, tokens=500, usd="0.005", subject="feat: export"),
        commit("j1", 0, pr=14, tokens=700, usd="0.007"),
    ]  # fmt: skip
    prs = [pr(11, title="fix: second week"), pr(12, title=title), pr(13, "closed"), pr(14, "open")]
    events = [event(CI_PASSED, 5, 11), event(MERGED, 10, 11), event(CI_FAILED, 10, 12),
              event(MERGED, 60, 12)]  # fmt: skip
    return _later(commits, WEEK), _later(prs, WEEK), _later(events, WEEK)


def seed(engine, weeks=None, installation=INSTALLATION, account="acme", repository=REPO) -> None:
    """The worked example of docs/metrics.md in W45, then ``second_week`` in W46, stored in the
    ledger for ``installation`` (``repository`` renames the records: one name per tenant)."""
    weeks = weeks or (scenario(), second_week())
    commits, prs, events = (
        [dataclasses.replace(r, repository=repository) for w in weeks for r in w[i]]
        for i in range(3)
    )
    with Session(engine) as session, session.begin():
        upsert_installation(session, installation, account)
        repo_id = upsert_repository(session, installation, repository)
        upsert_pull_requests(session, repo_id, prs)
        upsert_events(session, repo_id, events)
        upsert_commits(session, repo_id, commits)
        replace_tasks(session, repo_id, attribute(commits, prs, events), prs=prs, events=events)


def failed_delivery(engine, guid, installation=INSTALLATION, repository=REPO, error="boom"):
    """A delivery of ``installation`` parked as failed in the inbox, with ``error``."""
    import json

    from bot.ledger import inbox

    payload = {"action": "opened", "installation": {"id": installation},
               "repository": {"full_name": repository}, "pull_request": {"number": 1}}  # fmt: skip
    inbox.store(engine, guid, "pull_request", json.dumps(payload).encode(), payload)
    claimed = inbox.claim(engine, "test-worker", timedelta(minutes=5))
    assert claimed is not None and claimed.guid == guid
    inbox.fail(engine, claimed, "test-worker", error, max_attempts=1)


def load_dataset(engine, installation=INSTALLATION):
    """The dashboard's ``bot.app.explore.Dataset`` of ``installation``, which must exist."""
    from bot.app import explore

    with Session(engine) as session:
        dataset = explore.load_installation(session, installation)
    assert dataset is not None, f"installation {installation} is not in the ledger"
    return dataset
