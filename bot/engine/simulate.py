"""Seeded simulation of routed task histories with exact truth, to prove the recommender.

Pure: no I/O, standard library only; the same scenario and seed give the same history. A
``Scenario`` fixes, for each task class, every tier's per-attempt success probability and mean
cost (log-normal, heavy-tailed), the routing shares and the share of unpriced tasks. A task routed
to a tier makes up to ``MAX_ATTEMPTS`` attempts along the tier's ladder (retries, then escalation
to the next tier up) and ships when one succeeds; its cost is the sum of its attempts. ``truth``
gives the exact shipped rate and cost per shipped task of each cell, ``history`` the
``bot.engine.report.Outcome`` list that ``bot.engine.report.cells_of`` turns into the
recommender's input.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.engine.report import Outcome, cells_of, recommendations

__all__ = [
    "MAX_ATTEMPTS",
    "SCENARIOS",
    "TARGET",
    "Arm",
    "Scenario",
    "Trial",
    "Truth",
    "current_tier",
    "history",
    "ladder",
    "switch_is_right",
    "trial",
    "truth",
]

MAX_ATTEMPTS = 3
"""Attempts a task makes at most: a retry on its tier, then one escalation."""


@dataclass(frozen=True)
class Arm:
    """One attempt at a tier: success probability and mean cost in dollars (log-normal)."""

    p: float
    mean_cost: float

    def __post_init__(self) -> None:
        if not 0.0 < self.p <= 1.0:
            raise ValueError(f"an attempt's success probability must be in (0, 1], not {self.p}")
        if not (self.mean_cost > 0 and math.isfinite(self.mean_cost)):
            raise ValueError(f"an attempt's mean cost must be positive, not {self.mean_cost}")


@dataclass(frozen=True)
class Scenario:
    """A known truth: ``arms[task_class][tier]``, tiers cheapest first in ``tiers``.

    ``shares`` is each tier's share of a class's tasks; ``sigma`` the log-normal shape of an
    attempt's cost (1.0: the 5% and 95% costs are 27x apart, like runs of one agentic task);
    ``unpriced`` the share of tasks whose cost is unknown (None).
    """

    name: str
    tiers: tuple[str, ...]
    arms: Mapping[str, Mapping[str, Arm]]
    shares: Mapping[str, float]
    sigma: float = 1.0
    unpriced: float = 0.1
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if set(self.shares) != set(self.tiers) or any(s <= 0 for s in self.shares.values()):
            raise ValueError(f"every tier needs a positive share: {dict(self.shares)}")
        if not math.isclose(sum(self.shares.values()), 1.0):
            raise ValueError(f"routing shares must sum to 1, not {sum(self.shares.values())}")
        for task_class, arms in self.arms.items():
            if set(arms) != set(self.tiers):
                raise ValueError(f"class {task_class!r} needs an arm for each of {self.tiers}")
        if not 0.0 <= self.unpriced < 1.0 or not self.sigma >= 0.0:
            raise ValueError("need 0 <= unpriced < 1 and sigma >= 0")

    def cells(self, minority: int) -> dict[str, int]:
        """Tasks per tier when the least-used tier has ``minority`` tasks."""
        least = min(self.shares.values())
        return {t: round(minority * s / least) for t, s in self.shares.items()}


@dataclass(frozen=True)
class Truth:
    """Exact values of one cell: shipped rate and cost per shipped task E[cost] / P(ship)."""

    shipped: float
    cost_per_task: float
    cost_per_shipped: float


def ladder(scenario: Scenario, tier: str) -> tuple[str, ...]:
    """The tiers of a task's attempts: its own, retried, then the next tier up (if any)."""
    i = scenario.tiers.index(tier)
    up = scenario.tiers[min(i + 1, len(scenario.tiers) - 1)]
    return (tier,) * (MAX_ATTEMPTS - 1) + (up,)


def truth(scenario: Scenario, task_class: str, tier: str) -> Truth:
    """Exact shipped rate and costs of a cell, summed over the ladder's attempts."""
    arms = scenario.arms[task_class]
    reach, cost = 1.0, 0.0
    for step in ladder(scenario, tier):
        cost += reach * arms[step].mean_cost
        reach *= 1.0 - arms[step].p
    shipped = 1.0 - reach
    return Truth(shipped, cost, cost / shipped)


def history(scenario: Scenario, minority: int, seed: int) -> list[Outcome]:
    """One simulated history: every class with ``scenario.cells(minority)`` tasks."""
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not cryptography
    mu_shift = -(scenario.sigma**2) / 2  # log-normal with the arm's mean: mu = log(mean) - s^2/2
    found = []
    for task_class in sorted(scenario.arms):
        arms = scenario.arms[task_class]
        for tier, n in sorted(scenario.cells(minority).items()):
            steps = ladder(scenario, tier)
            for _ in range(n):
                found.append(_task(rng, scenario, arms, steps, mu_shift, task_class, tier))
    return found


def _task(
    rng: random.Random,
    scenario: Scenario,
    arms: Mapping[str, Arm],
    steps: Sequence[str],
    mu_shift: float,
    task_class: str,
    tier: str,
) -> Outcome:
    cost, shipped = 0.0, False
    for step in steps:
        arm = arms[step]
        cost += rng.lognormvariate(math.log(arm.mean_cost) + mu_shift, scenario.sigma)
        if rng.random() < arm.p:
            shipped = True
            break
    priced = rng.random() >= scenario.unpriced
    return Outcome(task_class, tier, shipped, Decimal(repr(cost)) if priced else None)


# --- the scenarios of docs/statistics.md and what a recommendation is judged against -----------

TIERS = ("economy", "frontier")
FRONTIER = Arm(0.6, 1.0)
"""Ships 93.6% of tasks in three attempts at $1.5600 a task: $1.6667 per shipped task."""
TARGET = "bugfix"
"""The class a scenario is judged on (the weak one when several classes share a tier's data)."""


def _two_tier(name: str, economy: Arm, current: str, share: float, notes: str) -> Scenario:
    other = TIERS[1 - TIERS.index(current)]
    arms = {TARGET: {"economy": economy, "frontier": FRONTIER}}
    return Scenario(name, TIERS, arms, {current: share, other: 1.0 - share}, notes=notes)


def _pooled() -> Scenario:
    """Four sibling classes where economy is as good and far cheaper, and one weak class where
    economy is the quality trap: pooling must not lift the weak class to its siblings' rate."""
    arms = {f"class{i}": {"economy": Arm(0.6, 0.3), "frontier": FRONTIER} for i in range(4)}
    arms[TARGET] = {"economy": TRAP, "frontier": FRONTIER}
    return Scenario(
        "several classes pooled", TIERS, arms, {"frontier": 0.8, "economy": 0.2},
        notes="4 siblings where economy saves 63%; judged on the trapped class",
    )  # fmt: skip


TRAP = Arm(0.41051, 0.3)
"""Economy ships 86.1% (7.5 points under frontier's 93.6%) at 43% less per shipped task."""

SCENARIOS: tuple[Scenario, ...] = (
    _two_tier("cheap better", Arm(0.6, 0.3), "frontier", 0.8, "economy saves 63%, same quality"),
    _two_tier("frontier better", Arm(0.25, 0.7), "economy", 0.8,
              "frontier saves 28% and ships 16 points more"),
    _two_tier("equal", FRONTIER, "frontier", 0.8, "identical tiers"),
    _two_tier("within 2%", Arm(0.6, 0.97771), "frontier", 0.8,
              "economy saves 2% (under the 5% minimum), same quality"),
    _two_tier("quality trap", TRAP, "frontier", 0.8,
              "economy saves 43% but ships 7.5 points fewer (tolerance 5)"),
    _pooled(),
    _two_tier("cheap better, 95/5", Arm(0.6, 0.3), "frontier", 0.95, "as cheap better"),
    _two_tier("equal, 95/5", FRONTIER, "frontier", 0.95, "as equal"),
)  # fmt: skip


@dataclass(frozen=True)
class Trial:
    """What the recommender advised for ``TARGET`` in one simulated history, against truth.

    ``covered``: the saving interval holds the true saving (None: no interval shown);
    ``rate_covered``: the candidate's success-rate interval holds its true shipped rate.
    """

    action: str
    to_tier: str
    covered: bool | None
    rate_covered: bool | None


def current_tier(scenario: Scenario) -> str:
    """The tier most of a class goes to: the one the recommender (``report``) starts from."""
    return max(scenario.tiers, key=lambda t: (scenario.shares[t], t))


def switch_is_right(scenario: Scenario, delta: float, min_saving: float) -> bool:
    """Moving ``TARGET`` off its current tier saves at least ``min_saving`` of the cost per
    shipped task and ships no fewer tasks than ``delta`` under the current tier."""
    a = truth(scenario, TARGET, current_tier(scenario))
    b = truth(scenario, TARGET, _other(scenario))
    return b.cost_per_shipped <= (1 - min_saving) * a.cost_per_shipped and (
        b.shipped >= a.shipped - delta
    )


def _other(scenario: Scenario) -> str:
    current = current_tier(scenario)
    return next(t for t in scenario.tiers if t != current)


def trial(scenario: Scenario, minority: int, seed: int) -> Trial:
    """Simulate one history and run the project's entry point on it, every default."""
    rec = recommendations(cells_of(history(scenario, minority, seed)))[TARGET]
    a = truth(scenario, TARGET, rec.from_tier)
    b = truth(scenario, TARGET, rec.to_tier)
    covered = None
    if rec.saving_low is not None and rec.saving_high is not None:
        covered = rec.saving_low <= a.cost_per_shipped - b.cost_per_shipped <= rec.saving_high
    rate_covered = None
    if rec.candidate is not None:
        p = rec.candidate.posterior
        rate_covered = p.low <= b.shipped <= p.high
    return Trial(rec.action, rec.to_tier, covered, rate_covered)
