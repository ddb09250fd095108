"""Attribution: group commits into tasks and attempts, and say where every token went.

Pure: functions over ``bot.engine.records``; the definitions are in docs/metrics.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from bot.engine.classify import complexity, infer_task_class
from bot.engine.records import (
    APPROVED,
    BOUNCE_KINDS,
    CHANGES_REQUESTED,
    CI_FAILED,
    CI_PASSED,
    CLOSED,
    MERGED,
    REVERTED,
    CommitFacts,
    Event,
    PullRequest,
)

T = TypeVar("T")
_CENT = Decimal("0.00000001")  # the ledger's Numeric(18, 8) precision

# Where a token (or dollar) ends up: the waterfall buckets, which sum to the total.
SHIPPED = "shipped"
REWORK = "rework"
MISROUTE = "misroute"  # attempts superseded by an escalation to a higher tier
ABANDONED = "abandoned"  # bounced and never shipped (closed, or open past the window)
REVERTED_SPEND = "reverted"
OPEN = "open"  # still in flight: not yet shipped nor abandoned
BUCKETS = (SHIPPED, REWORK, MISROUTE, ABANDONED, REVERTED_SPEND, OPEN)


@dataclass(frozen=True, slots=True)
class Spend:
    """Tokens and dollars of one bucket; ``usd`` covers only priced usage."""

    tokens: float = 0.0
    usd: Decimal = Decimal(0)
    unpriced_tokens: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    task_id: str
    number: int
    tier: str | None
    model: str | None
    commits: tuple[str, ...]
    outcome: str  # shipped, escalated, bounced, abandoned, reverted, open
    bounces: tuple[str, ...]  # event kinds, in order
    tokens: int
    usd: Decimal
    unpriced_tokens: int


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    repository: str
    pr_numbers: tuple[int, ...]
    task_class: str
    class_inferred: bool
    tier: str | None  # the tier first routed: spend is attributed to it
    strategy: str | None
    has_context: bool | None
    route_score: float | None
    complexity: str  # small, medium, large
    agent: str | None
    model: str | None
    author: str | None  # git author e-mail of the first agent commit (or the agent itself)
    attempts: tuple[Attempt, ...]
    status: str  # shipped, abandoned, reverted, open
    first_pass: bool
    escalated: bool
    bounces: tuple[str, ...]
    ci_first_pass: bool | None  # None: no CI signal
    review_first_pass: bool | None  # None: no review signal
    merged: bool
    survived: bool | None  # None: not merged
    agent_rework_commits: int
    human_rework_commits: int
    spend: dict[str, Spend]  # bucket -> spend; buckets sum to the task's total


@dataclass(frozen=True, slots=True)
class Params:
    """Knobs of the definitions (docs/metrics.md); defaults are the documented conventions."""

    window_days: int = 21  # rework / revert window (LinearB, Pluralsight Flow)
    tier_order: tuple[str, ...] = ("economy", "standard", "frontier")


def attribute(
    commits: Iterable[CommitFacts],
    prs: Iterable[PullRequest] = (),
    events: Iterable[Event] = (),
    params: Params = Params(),
) -> list[Task]:
    """Tasks with at least one agent-authored commit, in a stable order.

    The result depends only on the set of records given, never on their order or duplicates.
    """
    unique = {(c.repository, c.sha): c for c in commits if len(c.parents) <= 1}
    ordered = sorted(unique.values(), key=lambda c: (c.committed_at, c.sha))
    index = _Index(
        {(p.repository, p.number): p for p in prs},
        sorted({e.key: e for e in events}.values(), key=lambda e: (e.at, e.key)),
    )
    groups: dict[str, list[CommitFacts]] = defaultdict(list)
    pr_task = _pr_tasks(ordered)
    for commit in ordered:
        groups[_task_key(commit, pr_task)].append(commit)
    tasks = [
        _build_task(key, group, index, params)
        for key, group in groups.items()
        if any(c.is_agent_work for c in group)
    ]
    return sorted(tasks, key=lambda t: (t.repository, t.id))


class _Index:
    """Events by pull request, and reverts by reverted commit."""

    def __init__(self, prs: dict[tuple[str, int], PullRequest], events: list[Event]):
        self.prs = prs
        self.by_pr: dict[tuple[str, int], list[Event]] = defaultdict(list)
        self.reverts: dict[tuple[str, str], Event] = {}
        for event in events:
            if event.kind == REVERTED and event.sha:
                self.reverts.setdefault((event.repository, event.sha), event)
            elif event.pr_number is not None:
                self.by_pr[(event.repository, event.pr_number)].append(event)


def _pr_tasks(commits: list[CommitFacts]) -> dict[tuple[str, int], str]:
    """A pull request belongs to the first ``Agent-Task`` named by one of its commits."""
    found: dict[tuple[str, int], str] = {}
    for c in commits:
        if c.task and c.pr_number is not None:
            found.setdefault((c.repository, c.pr_number), c.task)
    return found


def _task_key(c: CommitFacts, pr_task: dict[tuple[str, int], str]) -> str:
    task = c.task or (pr_task.get((c.repository, c.pr_number)) if c.pr_number else None)
    if task:
        return f"{c.repository}:task:{task}"
    if c.pr_number is not None:
        return f"{c.repository}:pr:{c.pr_number}"
    if c.branch:
        return f"{c.repository}:branch:{c.branch}"
    return f"{c.repository}:commit:{c.sha}"


def _build_task(key: str, commits: list[CommitFacts], index: _Index, params: Params) -> Task:
    agent = [c for c in commits if c.is_agent_work]
    first = agent[0]
    repo = first.repository
    pr_numbers = tuple(sorted({c.pr_number for c in commits if c.pr_number is not None}))
    prs = [index.prs[(repo, n)] for n in pr_numbers if (repo, n) in index.prs]
    pr_events = sorted(
        (e for n in pr_numbers for e in index.by_pr.get((repo, n), ())),
        key=lambda e: (e.at, e.key),
    )
    merged_at = _merged_at(pr_numbers, prs, pr_events, commits)
    window = timedelta(days=params.window_days)
    reverted = _reverted_shas(commits, prs, index, merged_at, window)
    whole_revert = bool(reverted & {p.merge_sha for p in prs if p.merge_sha}) or all(
        c.sha in reverted for c in agent
    )
    status = _status(merged_at, whole_revert, prs)
    bounce_events = [e for e in pr_events if e.kind in BOUNCE_KINDS]
    if prs and status == "abandoned" and not any(e.kind == CLOSED for e in bounce_events):
        bounce_events.append(Event(f"implied-close:{key}", CLOSED, commits[-1].committed_at, repo))
    attempt_of = _attempt_numbers(commits, bounce_events)
    attempts = _attempts(key, commits, attempt_of, bounce_events, status, params, reverted)
    escalations = sum(1 for a in attempts if a.outcome == "escalated")
    bounces = tuple(e.kind for e in bounce_events) + ("escalated",) * escalations
    if reverted and merged_at is not None:
        bounces += (REVERTED,)
    first_bounce = bounce_events[0].at if bounce_events else None
    agent_rework = sum(
        1 for c in agent[1:] if c.is_fixup or (first_bounce and c.committed_at > first_bounce)
    )
    human_rework = sum(1 for c in commits if not c.is_agent_work)
    pr_title = prs[0].title if prs else ""
    labels = [label for p in prs for label in p.labels]
    explicit_class = next((c.task_class for c in agent if c.task_class), None)
    files = [f for c in commits for f in c.files]
    ci = [e for e in pr_events if e.kind in (CI_FAILED, CI_PASSED)]
    reviews = [e for e in pr_events if e.kind in (CHANGES_REQUESTED, APPROVED)]
    return Task(
        id=key,
        repository=repo,
        pr_numbers=pr_numbers,
        task_class=explicit_class
        or infer_task_class([c.subject for c in agent], labels, pr_title, (f.path for f in files)),
        class_inferred=explicit_class is None,
        tier=attempts[0].tier,
        strategy=_first(c.strategy for c in agent),
        has_context=_first(c.has_context for c in agent),
        route_score=_first(c.route_score for c in agent),
        complexity=complexity(files),
        agent=first.agent,
        model=first.model,
        author=first.author.email.lower() or first.author.name or None,
        attempts=attempts,
        status=status,
        first_pass=status == "shipped" and not bounces and not agent_rework and not human_rework,
        escalated=escalations > 0,
        bounces=bounces,
        ci_first_pass=None if not ci else not any(e.kind == CI_FAILED for e in ci),
        review_first_pass=None
        if not reviews
        else not any(e.kind == CHANGES_REQUESTED for e in reviews),
        merged=merged_at is not None,
        survived=None if merged_at is None else status != REVERTED_SPEND,
        agent_rework_commits=agent_rework,
        human_rework_commits=human_rework,
        spend=_spend(agent, attempt_of, attempts, status, reverted),
    )


def _first(values: Iterable[T | None]) -> T | None:
    return next((v for v in values if v is not None), None)


def _merged_at(pr_numbers, prs, pr_events, commits) -> datetime | None:
    """When the work merged; a task with no pull request is on the audited branch already."""
    if not pr_numbers:
        return commits[-1].committed_at
    times = [e.at for e in pr_events if e.kind == MERGED]
    times += [p.closed_at or commits[-1].committed_at for p in prs if p.state == "merged"]
    return min(times) if times else None


def _reverted_shas(commits, prs, index: _Index, merged_at, window) -> set[str]:
    """Commits (or merge commits) of the task reverted within the window after merging."""
    if merged_at is None:
        return set()
    shas = [c.sha for c in commits] + [p.merge_sha for p in prs if p.merge_sha]
    repo = commits[0].repository
    found = set()
    for sha in shas:
        event = index.reverts.get((repo, sha))
        if event is not None and event.at - merged_at <= window:
            found.add(sha)
    return found


def _status(merged_at, whole_revert: bool, prs: list[PullRequest]) -> str:
    if merged_at is not None:
        return REVERTED_SPEND if whole_revert else SHIPPED
    if prs and all(p.state == "closed" for p in prs):
        return ABANDONED
    return OPEN


def _attempt_numbers(commits: list[CommitFacts], bounces: list[Event]) -> dict[str, int]:
    """``Agent-Attempt`` when given (carried forward); else a new attempt after each bounce
    or tier change between two agent commits."""
    explicit = any(c.attempt is not None for c in commits if c.is_agent_work)
    numbers: dict[str, int] = {}
    current, last_time, last_tier = 1, None, None
    for c in commits:
        if explicit:
            current = c.attempt if c.attempt is not None and c.is_agent_work else current
        elif c.is_agent_work and last_time is not None:
            bounced = any(last_time < e.at <= c.committed_at for e in bounces)
            changed = c.tier is not None and last_tier is not None and c.tier != last_tier
            current += bounced or changed
        numbers[c.sha] = current
        if c.is_agent_work:
            last_time, last_tier = c.committed_at, c.tier or last_tier
    return numbers


def _attempts(key, commits, attempt_of, bounces, status, params, reverted) -> tuple[Attempt, ...]:
    by_number: dict[int, list[CommitFacts]] = defaultdict(list)
    for c in commits:  # one pass, in commit order: a task may have many attempts
        by_number[attempt_of[c.sha]].append(c)
    rank = {tier: i for i, tier in enumerate(params.tier_order)}
    shells = []
    for n in sorted(by_number):
        members = by_number[n]
        work = [c for c in members if c.is_agent_work] or members
        shells.append((n, members, work[0].tier, work[0].model, work[0].committed_at))
    result = []
    for i, (n, members, tier, model, start) in enumerate(shells):
        later = shells[i + 1] if i + 1 < len(shells) else None
        end = later[4] if later else None
        own = tuple(e.kind for e in bounces if e.at >= start and (end is None or e.at < end))
        if later is None:
            outcome = status if status != REVERTED_SPEND else "reverted"
        elif tier in rank and later[2] in rank and rank[later[2]] > rank[tier]:
            outcome = "escalated"
        else:
            outcome = "bounced"
        usage = [u for c in members if c.is_agent_work for u in c.usage]
        result.append(
            Attempt(
                task_id=key, number=n, tier=tier, model=model,
                commits=tuple(c.sha for c in members), outcome=outcome, bounces=own,
                tokens=sum(u.tokens for u in usage),
                usd=sum((u.usd for u in usage if u.usd is not None), Decimal(0)),
                unpriced_tokens=sum(u.tokens for u in usage if u.usd is None),
            )
        )  # fmt: skip
    return tuple(result)


def _spend(agent, attempt_of, attempts, status, reverted) -> dict[str, Spend]:
    """Split every agent commit's tokens and dollars over the waterfall buckets."""
    outcome = {a.number: a.outcome for a in attempts}
    totals = {bucket: [0.0, Decimal(0), 0.0] for bucket in BUCKETS}
    for c in agent:
        if c.sha in reverted or status == REVERTED_SPEND:
            shares = {REVERTED_SPEND: 1.0}
        elif outcome[attempt_of[c.sha]] == "escalated":
            shares = {MISROUTE: 1.0}
        elif status in (ABANDONED, OPEN):
            shares = {status: 1.0}
        else:
            kept = 1.0 if c.survival is None else min(max(c.survival, 0.0), 1.0)
            shares = {SHIPPED: kept, REWORK: 1.0 - kept}
        _add(totals, c, shares)
    return {b: Spend(t[0], t[1], t[2]) for b, t in totals.items()}


def _add(totals, c: CommitFacts, shares: dict[str, float]) -> None:
    """Dollars split so that the parts add up exactly to the commit's priced total."""
    priced = sum((u.usd for u in c.usage if u.usd is not None), Decimal(0))
    unpriced = sum(u.tokens for u in c.usage if u.usd is None)
    left = priced
    for i, (bucket, share) in enumerate(shares.items()):
        usd = left if i == len(shares) - 1 else (priced * Decimal(repr(share))).quantize(_CENT)
        left -= usd
        totals[bucket][0] += c.tokens * share
        totals[bucket][1] += usd
        totals[bucket][2] += unpriced * share


def finished_at(
    task: Task,
    prs: Mapping[int, PullRequest],
    events: Sequence[Event],
    commit_times: Mapping[str, datetime],
) -> datetime | None:
    """When the task finished: its first merge, or its last close; None while it is open.

    A task without pull requests finished with its last commit, as ``attribute`` decides its
    status. Reports count a task in the ISO week it finished in (docs/digests.md).
    """
    if task.status == OPEN:
        return None
    own = [prs[n] for n in task.pr_numbers if n in prs]
    mine = [e for e in events if e.pr_number in task.pr_numbers]
    if task.status == ABANDONED:
        times = [e.at for e in mine if e.kind == CLOSED] + [p.closed_at for p in own if p.closed_at]
        return max(times) if times else _last_commit(task, commit_times)
    times = [e.at for e in mine if e.kind == MERGED]
    times += [p.closed_at for p in own if p.state == "merged" and p.closed_at]
    return min(times) if times else _last_commit(task, commit_times)


def _last_commit(task: Task, commit_times: Mapping[str, datetime]) -> datetime | None:
    times = [commit_times[s] for a in task.attempts for s in a.commits if s in commit_times]
    return max(times) if times else None
