"""The figures every report shows, computed from attributed tasks (docs/metrics.md).

Pure functions over ``bot.engine.attribution.Task``. A figure that cannot be computed is None,
never 0: no shipped task means no cost per shipped task, unpriced spend means no cost yield.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from math import prod

from bot.engine.attribution import BUCKETS, SHIPPED, Spend, Task
from bot.stats.posterior import Rate, rate

MIN_PRICE_COVERAGE = 0.5  # below this share of priced tokens, dollar figures are withheld


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    tasks: int
    shipped_tasks: int
    first_pass: Rate
    bounce_rate: Rate
    escalation_rate: Rate
    stage_yields: dict[str, Rate]  # ci, review, merge, survival
    rolled_throughput_yield: float | None
    tokens_total: float
    tokens_shipped: float
    token_yield: float | None
    usd_total: Decimal
    usd_shipped: Decimal
    cost_yield: float | None
    cost_per_shipped_task: Decimal | None
    price_coverage: float  # priced tokens / all tokens
    waterfall: dict[str, Spend]
    agent_rework_commits: int
    human_rework_commits: int


@dataclass(frozen=True, slots=True)
class Totals:
    """The counts and sums every figure of a group is computed from (``from_totals``).

    They add up, so a group's totals can be summed in SQL (``bot.app.explore``) or over weeks;
    ``spend`` holds (bucket, tokens, usd, unpriced tokens) per waterfall bucket.
    """

    tasks: int = 0
    shipped: int = 0
    first_pass: int = 0
    bounced: int = 0
    escalated: int = 0
    ci_passed: int = 0  # first-pass CI, among the tasks with a CI signal
    ci_signals: int = 0
    review_passed: int = 0
    review_signals: int = 0
    decided: int = 0  # not open
    decided_merged: int = 0
    merged: int = 0
    survived: int = 0  # among the merged
    agent_rework_commits: int = 0
    human_rework_commits: int = 0
    spend: tuple[tuple[str, float, Decimal, float], ...] = ()

    def __add__(self, other: Totals) -> Totals:
        spend = {b: (0.0, Decimal(0), 0.0) for b in BUCKETS}
        for b, tokens, usd, unpriced in (*self.spend, *other.spend):
            t, u, n = spend[b]
            spend[b] = (t + tokens, u + usd, n + unpriced)
        counts = {f: getattr(self, f) + getattr(other, f) for f in COUNTS}
        return Totals(**counts, spend=tuple((b, *v) for b, v in spend.items()))


COUNTS = tuple(f.name for f in fields(Totals) if f.name != "spend")


def totals_of(tasks: Iterable[Task]) -> Totals:
    """The totals of tasks in memory."""
    tasks = list(tasks)
    decided = [t for t in tasks if t.status != "open"]
    return Totals(
        tasks=len(tasks),
        shipped=sum(t.status == SHIPPED for t in tasks),
        first_pass=sum(t.first_pass for t in tasks),
        bounced=sum(bool(t.bounces) for t in tasks),
        escalated=sum(t.escalated for t in tasks),
        ci_passed=sum(t.ci_first_pass is True for t in tasks),
        ci_signals=sum(t.ci_first_pass is not None for t in tasks),
        review_passed=sum(t.review_first_pass is True for t in tasks),
        review_signals=sum(t.review_first_pass is not None for t in tasks),
        decided=len(decided),
        decided_merged=sum(t.merged for t in decided),
        merged=sum(t.merged for t in tasks),
        survived=sum(bool(t.survived) for t in tasks if t.merged),
        agent_rework_commits=sum(t.agent_rework_commits for t in tasks),
        human_rework_commits=sum(t.human_rework_commits for t in tasks),
        spend=tuple((b, s.tokens, s.usd, s.unpriced_tokens) for b, s in _waterfall(tasks).items()),
    )


def summarise(tasks: Sequence[Task]) -> GroupMetrics:
    return from_totals(totals_of(tasks))


def from_totals(t: Totals) -> GroupMetrics:
    """Every figure of a group, from its totals (docs/metrics.md)."""
    waterfall = {b: Spend() for b in BUCKETS}
    waterfall.update({b: Spend(tokens, usd, unpriced) for b, tokens, usd, unpriced in t.spend})
    tokens_total = sum(s.tokens for s in waterfall.values())
    usd_total = sum((s.usd for s in waterfall.values()), Decimal(0))
    unpriced = sum(s.unpriced_tokens for s in waterfall.values())
    coverage = 1.0 if tokens_total == 0 else (tokens_total - unpriced) / tokens_total
    # Each stage over the tasks that reached it with a signal: CI, review, merge, survival.
    stages = {
        "ci": rate(t.ci_passed, t.ci_signals),
        "review": rate(t.review_passed, t.review_signals),
        "merge": rate(t.decided_merged, t.decided),
        "survival": rate(t.survived, t.merged),
    }
    dollars_ok = coverage >= MIN_PRICE_COVERAGE
    shipped = waterfall[SHIPPED]
    return GroupMetrics(
        tasks=t.tasks,
        shipped_tasks=t.shipped,
        first_pass=rate(t.first_pass, t.tasks),
        bounce_rate=rate(t.bounced, t.tasks),
        escalation_rate=rate(t.escalated, t.tasks),
        stage_yields=stages,
        rolled_throughput_yield=_rty(stages),
        tokens_total=tokens_total,
        tokens_shipped=shipped.tokens,
        token_yield=shipped.tokens / tokens_total if tokens_total else None,
        usd_total=usd_total,
        usd_shipped=shipped.usd,
        cost_yield=float(shipped.usd / usd_total) if dollars_ok and usd_total else None,
        cost_per_shipped_task=(usd_total / t.shipped) if dollars_ok and t.shipped else None,
        price_coverage=coverage,
        waterfall=waterfall,
        agent_rework_commits=t.agent_rework_commits,
        human_rework_commits=t.human_rework_commits,
    )


def _waterfall(tasks: Iterable[Task]) -> dict[str, Spend]:
    acc = {b: [0.0, Decimal(0), 0.0] for b in BUCKETS}
    for task in tasks:
        for bucket, spend in task.spend.items():
            acc[bucket][0] += spend.tokens
            acc[bucket][1] += spend.usd
            acc[bucket][2] += spend.unpriced_tokens
    return {b: Spend(*v) for b, v in acc.items()}


def _rty(stages: dict[str, Rate]) -> float | None:
    """Rolled throughput yield: the product of the stage yields that have data."""
    values = [r.value for r in stages.values() if r.value is not None]
    return prod(values) if values else None


def breakdown(
    tasks: Iterable[Task], key: Callable[[Task], Hashable]
) -> dict[Hashable, GroupMetrics]:
    groups: dict[Hashable, list[Task]] = defaultdict(list)
    for task in tasks:
        groups[key(task)].append(task)
    return {k: summarise(v) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}


BREAKDOWNS: dict[str, Callable[[Task], Hashable]] = {
    "tier_class": lambda t: (t.tier, t.task_class),
    "model": lambda t: t.model,
    "agent": lambda t: t.agent,
    "repository": lambda t: t.repository,
    "author": lambda t: t.author,
    "strategy": lambda t: t.strategy,
    "context": lambda t: {None: None, True: "with", False: "without"}[t.has_context],
    "complexity": lambda t: t.complexity,
}


def calibration(tasks: Iterable[Task], buckets: int = 5) -> list[tuple[float, float, Rate]]:
    """First-pass yield per router score bucket: is the router's score predictive?"""
    return calibration_of(((t.route_score, t.first_pass) for t in tasks), buckets)


def calibration_of(
    scored: Iterable[tuple[float | None, bool]], buckets: int = 5
) -> list[tuple[float, float, Rate]]:
    """``calibration`` of (router score, first pass) pairs; unscored tasks are left out."""
    counts = [[0, 0] for _ in range(buckets)]
    for score, first_pass in scored:
        if score is None:
            continue
        i = min(int(score * buckets), buckets - 1)
        counts[i][0] += first_pass
        counts[i][1] += 1
    return [(i / buckets, (i + 1) / buckets, rate(k, n)) for i, (k, n) in enumerate(counts)]
