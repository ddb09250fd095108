"""The figures every report shows, computed from attributed tasks (docs/metrics.md).

Pure functions over ``bot.attribution.Task``. A figure that cannot be computed is None,
never 0: no shipped task means no cost per shipped task, unpriced spend means no cost yield.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from math import prod

from bot.attribution import BUCKETS, SHIPPED, Spend, Task
from bot.stats import Rate, rate

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


def summarise(tasks: Sequence[Task]) -> GroupMetrics:
    waterfall = _waterfall(tasks)
    tokens_total = sum(s.tokens for s in waterfall.values())
    usd_total = sum((s.usd for s in waterfall.values()), Decimal(0))
    unpriced = sum(s.unpriced_tokens for s in waterfall.values())
    coverage = 1.0 if tokens_total == 0 else (tokens_total - unpriced) / tokens_total
    shipped = [t for t in tasks if t.status == SHIPPED]
    stages = _stage_yields(tasks)
    dollars_ok = coverage >= MIN_PRICE_COVERAGE
    return GroupMetrics(
        tasks=len(tasks),
        shipped_tasks=len(shipped),
        first_pass=rate(sum(t.first_pass for t in tasks), len(tasks)),
        bounce_rate=rate(sum(bool(t.bounces) for t in tasks), len(tasks)),
        escalation_rate=rate(sum(t.escalated for t in tasks), len(tasks)),
        stage_yields=stages,
        rolled_throughput_yield=_rty(stages),
        tokens_total=tokens_total,
        tokens_shipped=waterfall[SHIPPED].tokens,
        token_yield=waterfall[SHIPPED].tokens / tokens_total if tokens_total else None,
        usd_total=usd_total,
        usd_shipped=waterfall[SHIPPED].usd,
        cost_yield=float(waterfall[SHIPPED].usd / usd_total) if dollars_ok and usd_total else None,
        cost_per_shipped_task=(usd_total / len(shipped)) if dollars_ok and shipped else None,
        price_coverage=coverage,
        waterfall=waterfall,
        agent_rework_commits=sum(t.agent_rework_commits for t in tasks),
        human_rework_commits=sum(t.human_rework_commits for t in tasks),
    )


def _waterfall(tasks: Iterable[Task]) -> dict[str, Spend]:
    acc = {b: [0.0, Decimal(0), 0.0] for b in BUCKETS}
    for task in tasks:
        for bucket, spend in task.spend.items():
            acc[bucket][0] += spend.tokens
            acc[bucket][1] += spend.usd
            acc[bucket][2] += spend.unpriced_tokens
    return {b: Spend(*v) for b, v in acc.items()}


def _stage_yields(tasks: Sequence[Task]) -> dict[str, Rate]:
    """Each stage over the tasks that reached it with a signal: CI, review, merge, survival."""
    decided = [t for t in tasks if t.status != "open"]
    merged = [t for t in tasks if t.merged]
    ci = [t.ci_first_pass for t in tasks if t.ci_first_pass is not None]
    review = [t.review_first_pass for t in tasks if t.review_first_pass is not None]
    return {
        "ci": rate(sum(ci), len(ci)),
        "review": rate(sum(review), len(review)),
        "merge": rate(sum(t.merged for t in decided), len(decided)),
        "survival": rate(sum(bool(t.survived) for t in merged), len(merged)),
    }


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
    counts = [[0, 0] for _ in range(buckets)]
    for task in tasks:
        if task.route_score is None:
            continue
        i = min(int(task.route_score * buckets), buckets - 1)
        counts[i][0] += task.first_pass
        counts[i][1] += 1
    return [(i / buckets, (i + 1) / buckets, rate(k, n)) for i, (k, n) in enumerate(counts)]
