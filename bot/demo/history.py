"""Eleven weeks of agent work before the demo's scripted week, for the dashboard to explore.

The scripted week (``bot.demo.story``) goes through signed webhooks and the fake GitHub; this
history is stored straight into the ledger, in a second repository of the same installation,
so the 12-week trend charts, the tier x task class heatmap and the recommendations have data.
It is seeded: every demo shows the same history. The odds below are the demo's story (cheap
tiers one-shot docs and tests, stumble on features and bugfixes), not measurements.

Bugfix and refactor get 30 tasks on each of their tiers, so the routing scorecard has
something real to say: routing cut the invoice a lot, the cost per shipped task much less
(economy bugfixes fail and escalate), and bugfix should move from economy to standard. Docs
on standard and every feature cell stay thin, so the scripted week's docs change still shows
"routing paid" and its feature "too early to tell".
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from bot.demo.story import HAIKU, INSTALLATION, OPUS, SONNET, START
from bot.engine.attribution import attribute
from bot.engine.records import (
    APPROVED,
    CHANGES_REQUESTED,
    CI_FAILED,
    CI_PASSED,
    CLOSED,
    MERGED,
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

REPO = "acme/api"
ACCOUNT = "acme"
WEEKS = 11
TASKS_PER_WEEK = (24, 30)  # enough for 30 tasks a cell in bugfix and refactor (the scorecard)
SEED = 5
AGENT = Identity("Claude", "noreply@anthropic.com")
# tier -> (model, dollars per million tokens, blended input/output)
MODELS = {"economy": (HAIKU, 1.8), "standard": (SONNET, 5.4), "frontier": (OPUS, 9.0)}
# task class -> (share of tasks, tier weights, first-pass odds per tier, typical tokens)
CLASSES = {
    "docs": (0.12, {"economy": 8, "standard": 2}, {"economy": 0.9, "standard": 0.93}, 30_000),
    "test": (0.12, {"economy": 6, "standard": 4}, {"economy": 0.8, "standard": 0.88}, 50_000),
    "bugfix": (
        0.45,
        {"economy": 5, "standard": 3, "frontier": 3},
        {"economy": 0.15, "standard": 0.75, "frontier": 0.86},
        90_000,
    ),
    "feature": (
        0.08,
        {"economy": 2, "standard": 4, "frontier": 4},
        {"economy": 0.3, "standard": 0.6, "frontier": 0.82},
        160_000,
    ),
    "refactor": (
        0.23,
        {"standard": 6, "frontier": 5},
        {"standard": 0.86, "frontier": 0.86},
        120_000,
    ),
}
TITLES = {
    "docs": ["Document the {} endpoint", "Explain {} errors in the guide"],
    "test": ["Cover {} with tests", "Add regression tests for {}"],
    "bugfix": ["Fix {} pagination", "Fix a race in {}", "Handle empty {} payloads"],
    "feature": ["Add {} export", "Support filtering {}", "Add webhooks for {}"],
    "refactor": ["Split the {} module", "Simplify {} validation"],
}
NOUNS = ["orders", "invoices", "customers", "refunds", "carts", "coupons", "shipments"]


@dataclass
class _Ledger:
    commits: list[CommitFacts] = field(default_factory=list)
    pulls: list[PullRequest] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def seed_history(session: Session) -> int:
    """Store the history (in the caller's transaction); returns the number of tasks."""
    ledger = history()
    upsert_installation(session, INSTALLATION, ACCOUNT)
    repo_id = upsert_repository(session, INSTALLATION, REPO)
    upsert_pull_requests(session, repo_id, ledger.pulls)
    upsert_events(session, repo_id, ledger.events)
    upsert_commits(session, repo_id, ledger.commits)
    tasks = attribute(ledger.commits, ledger.pulls, ledger.events)
    return replace_tasks(session, repo_id, tasks, prs=ledger.pulls, events=ledger.events)


def history(seed: int = SEED) -> _Ledger:
    """The records of every task of the eleven weeks before ``START``, oldest first."""
    rng, ledger, number = random.Random(seed), _Ledger(), 0  # noqa: S311 - a seeded story
    for week in range(WEEKS, 0, -1):
        monday = START - timedelta(weeks=week)
        for _ in range(rng.randint(*TASKS_PER_WEEK)):
            number += 1
            _task(rng, ledger, number, monday + timedelta(hours=rng.uniform(0, 96)))
    return ledger


def _task(rng: random.Random, ledger: _Ledger, number: int, at: datetime) -> None:
    """One pull request: attempts until one passes CI, escalating or giving up on the way."""
    task_class = rng.choices(list(CLASSES), [c[0] for c in CLASSES.values()])[0]
    _, tiers, odds, tokens = CLASSES[task_class]
    tier = rng.choices(list(tiers), list(tiers.values()))[0]
    title = rng.choice(TITLES[task_class]).format(rng.choice(NOUNS))
    score = min(1.0, max(0.0, odds[tier] + rng.gauss(0, 0.12)))
    context = rng.random() < 0.5
    key, passed = f"API-{number}", False
    for attempt, attempt_tier in enumerate(_attempts(rng, tier, odds), 1):
        at += timedelta(minutes=rng.uniform(20, 90))
        sha = _sha(key, attempt)
        ledger.commits.append(_commit(rng, key, task_class, attempt, attempt_tier, score,
                                      context, number, sha, at, tokens))  # fmt: skip
        passed = rng.random() < odds.get(attempt_tier, 0.9) + (0.1 if context else 0.0)
        ledger.events.append(_event(CI_PASSED if passed else CI_FAILED, at, number, sha))
        if passed:
            break
    at += timedelta(minutes=rng.uniform(30, 240))
    review = APPROVED if not passed or rng.random() < 0.85 else CHANGES_REQUESTED
    ledger.events.append(_event(review, at, number))
    state = MERGED if passed and review == APPROVED else CLOSED
    at += timedelta(minutes=rng.uniform(10, 60))
    ledger.events.append(_event(state, at, number))
    merged = state == MERGED
    ledger.pulls.append(PullRequest(REPO, number, title=title, labels=(task_class,),
                                    head_ref=f"agent/{key.lower()}",
                                    state="merged" if merged else "closed",
                                    created_at=at - timedelta(hours=3), closed_at=at,
                                    merge_sha=_sha(key, 0) if merged else None))  # fmt: skip


def _attempts(rng: random.Random, tier: str, odds: dict[str, float]) -> Iterator[str]:
    """The tier of each attempt: a retry on the same tier, then an escalation if it exists."""
    yield tier
    yield tier
    if "frontier" in odds and tier != "frontier" and rng.random() < 0.7:
        yield "frontier"


def _commit(rng, key, task_class, attempt, tier, score, context, number, sha, at, tokens):
    model, per_million = MODELS[tier]
    used = int(tokens * rng.uniform(0.6, 1.5))
    usd = (Decimal(used) * Decimal(str(per_million)) / 1_000_000).quantize(Decimal("0.00000001"))
    return CommitFacts(
        sha=sha, repository=REPO, parents=(_sha(key, attempt - 1),), author=AGENT,
        committer=AGENT, authored_at=at, committed_at=at, subject=f"{key}: attempt {attempt}",
        agent="claude-code", agent_role="authored", model=model, task=key,
        task_class=task_class, attempt=attempt, tier=tier, strategy="route", route_score=score,
        has_context=context, usage=(UsageLine(model, tier, used, usd),),
        files=(FileChange(f"api/{key.lower()}.py", rng.randint(5, 120), rng.randint(0, 30)),),
        pr_number=number, branch=f"agent/{key.lower()}",
    )  # fmt: skip


def _event(kind: str, at: datetime, number: int, sha: str | None = None) -> Event:
    return Event(f"history:{kind}:{number}:{sha}", kind, at, REPO, number, sha, "demo-history")


def _sha(key: str, attempt: int) -> str:
    return hashlib.sha1(f"{REPO}:{key}:{attempt}".encode(), usedforsecurity=False).hexdigest()
