"""A hand-built history whose figures are computed by hand in docs/metrics.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.commit import Identity
from bot.records import (
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

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
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
