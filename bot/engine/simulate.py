"""Seeded simulation of routed task histories with exact truth, to prove the recommender.

Pure: no I/O; the same scenario and seed give the same history. A
``Scenario`` fixes, for each task class, every tier's per-attempt success probability and mean
cost (log-normal, heavy-tailed), the routing shares and the share of unpriced tasks. A task routed
to a tier makes up to ``MAX_ATTEMPTS`` attempts along the tier's ladder (retries, then escalation
to the next tier up) and ships when one succeeds; its cost is the sum of its attempts. ``truth``
gives the exact shipped rate and cost per shipped task of each cell, ``history`` the
``bot.engine.report.Outcome`` list that ``bot.engine.report.cells_of`` turns into the
recommender's input.

For the routing scorecard's proof (issue 18), ``routed_history`` adds a known per-class routing
policy (``Routing``), tokens and the waterfall to each task, and ``realised_truth``,
``curve_truth``, ``policy_truth`` and ``optimal_tiers`` give the exact figures (numpy only there).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.engine.attribution import ABANDONED, MISROUTE, REWORK, SHIPPED
from bot.engine.curve import Arrays, figures
from bot.engine.report import Outcome, cells_of, recommendations
from bot.engine.scorecard import Routed

__all__ = [
    "MAX_ATTEMPTS",
    "PROOF",
    "PROOF_ROUTING",
    "SCENARIOS",
    "TARGET",
    "TIER_PRICES",
    "Arm",
    "Routing",
    "Scenario",
    "Trial",
    "Truth",
    "current_tier",
    "cost_over_optimal",
    "curve_truth",
    "history",
    "ladder",
    "optimal_tiers",
    "policy_truth",
    "realised_truth",
    "routed_history",
    "switch_is_right",
    "trial",
    "truly_worse",
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
    spent, shipped, priced = _attempts(rng, scenario, arms, steps, mu_shift)
    cost = sum(c for _, c in spent)
    return Outcome(task_class, tier, shipped, Decimal(repr(cost)) if priced else None)


def _attempts(
    rng: random.Random,
    scenario: Scenario,
    arms: Mapping[str, Arm],
    steps: Sequence[str],
    mu_shift: float,
) -> tuple[list[tuple[str, float]], bool, bool]:
    """One task's attempts along ``steps`` until one succeeds: each attempt's (tier, dollars),
    whether it shipped, and whether its cost is known."""
    spent, shipped = [], False
    for step in steps:
        arm = arms[step]
        spent.append((step, rng.lognormvariate(math.log(arm.mean_cost) + mu_shift, scenario.sigma)))
        if rng.random() < arm.p:
            shipped = True
            break
    return spent, shipped, rng.random() >= scenario.unpriced


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


# --- the routing scorecard's proof (issue 18, section 4) ------------------------------------------

TIER_PRICES = {"economy": 1e-6, "standard": 3e-6, "frontier": 5e-6}
"""Dollars per token of each tier: the frontier 5x economy (Haiku 4.5 against Opus 4.5)."""


@dataclass(frozen=True)
class Routing:
    """A known routing policy: ``shares[task_class][tier]``, each class's shares summing to 1.

    ``minority`` in ``cells`` is the size of a class's least-used cell, so a policy routing 20%
    to one tier has an explore share of 20% there.
    """

    shares: Mapping[str, Mapping[str, float]]

    def __post_init__(self) -> None:
        for task_class, shares in self.shares.items():
            if any(s <= 0 for s in shares.values()) or not math.isclose(sum(shares.values()), 1):
                raise ValueError(f"{task_class!r} needs positive shares summing to 1: {shares}")

    def cells(self, minority: int) -> dict[tuple[str, str], int]:
        """Tasks per (class, tier) when each class's least-used tier has ``minority`` tasks."""
        found = {}
        for task_class, shares in self.shares.items():
            least = min(shares.values())
            for tier, s in shares.items():
                found[(task_class, tier)] = round(minority * s / least)
        return found

    def current(self, task_class: str) -> str:
        """The tier most of ``task_class`` goes to: the one a policy switches away from."""
        shares = self.shares[task_class]
        return max(shares, key=lambda t: (shares[t], t))


def routed_history(
    scenario: Scenario,
    routing: Routing,
    minority: int,
    seed: int,
    prices: Mapping[str, float] = TIER_PRICES,
) -> list[Routed]:
    """One simulated history for the scorecard: ``routing.cells(minority)`` tasks, each one
    ``_task``'s attempts along its ladder, with tokens (dollars / the tier's price) and the
    waterfall: a shipped task's failed attempts on its own tier are rework, on a lower tier a
    mis-route, and every dollar of a task that never ships is abandoned. Nothing is reverted."""
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not cryptography
    mu_shift = -(scenario.sigma**2) / 2
    found = []
    for (task_class, tier), n in sorted(routing.cells(minority).items()):
        steps = ladder(scenario, tier)
        for _ in range(n):
            found.append(_routed_task(rng, scenario, task_class, tier, steps, mu_shift, prices))
    return found


def _routed_task(
    rng: random.Random,
    scenario: Scenario,
    task_class: str,
    tier: str,
    steps: Sequence[str],
    mu_shift: float,
    prices: Mapping[str, float],
) -> Routed:
    spent, shipped, priced = _attempts(rng, scenario, scenario.arms[task_class], steps, mu_shift)
    cost = sum(c for _, c in spent)
    outcome = Outcome(task_class, tier, shipped, Decimal(repr(cost)) if priced else None)
    escalated = len({step for step, _ in spent}) > 1
    late = True if escalated else None  # the ladder escalates only after failed attempts
    if not priced:
        return Routed(outcome, escalated=escalated, late=late)
    usage: dict[str, tuple[float, Decimal]] = {}
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for i, (step, c) in enumerate(spent):
        tokens, usd = usage.get(step, (0.0, Decimal(0)))
        usage[step] = (tokens + c / prices[step], usd + Decimal(repr(c)))
        spend[_bucket(shipped, i == len(spent) - 1, step == spent[-1][0])] += Decimal(repr(c))
    return Routed(outcome, usage, dict(spend), escalated=escalated, late=late)


def _bucket(shipped: bool, last: bool, on_final_tier: bool) -> str:
    """The waterfall bucket of one attempt's dollars: all of a task that never ships is
    abandoned; a shipped task's last attempt shipped, its failed ones on the tier that shipped
    are rework, on a lower tier a mis-route."""
    if not shipped:
        return ABANDONED
    if last:
        return SHIPPED
    return REWORK if on_final_tier else MISROUTE


def policy_truth(
    scenario: Scenario, shares: Mapping[str, Mapping[str, float]], mix: Mapping[str, float]
) -> Truth:
    """Exact shipped rate and costs of a policy: ``shares[class][tier]``, classes weighted by
    ``mix``; cost per shipped task is E[cost per task] / P(ship) over the mix."""
    total = sum(mix.values())
    ship = cost = 0.0
    for task_class, weight in mix.items():
        for tier, s in shares[task_class].items():
            t = truth(scenario, task_class, tier)
            ship += weight / total * s * t.shipped
            cost += weight / total * s * t.cost_per_task
    return Truth(ship, cost, cost / ship)


def truly_worse(
    scenario: Scenario, task_class: str, current: str, chosen: str, delta: float
) -> bool:
    """Whether moving ``task_class`` from ``current`` to ``chosen`` is truly worse: dearer per
    shipped task, or shipping more than ``delta`` less."""
    a, b = truth(scenario, task_class, current), truth(scenario, task_class, chosen)
    return b.cost_per_shipped > a.cost_per_shipped or b.shipped < a.shipped - delta


def optimal_tiers(scenario: Scenario, delta: float) -> dict[str, str]:
    """Per class, the tier with the lowest true cost per shipped task among those shipping no
    fewer than ``delta`` under the class's best shipped rate."""
    best = {}
    for task_class in scenario.arms:
        truths = {t: truth(scenario, task_class, t) for t in scenario.tiers}
        top = max(t.shipped for t in truths.values())
        fit = [t for t in scenario.tiers if truths[t].shipped >= top - delta]
        best[task_class] = min(fit, key=lambda t: (truths[t].cost_per_shipped, t))
    return best


def cost_over_optimal(scenario: Scenario, tiers: Mapping[str, str], delta: float) -> float:
    """The true cost per shipped task of routing each class wholly to ``tiers[class]`` over
    the ``optimal_tiers`` policy's, the classes in equal shares (1.05: 5% dearer)."""
    mix = dict.fromkeys(scenario.arms, 1.0)
    best = optimal_tiers(scenario, delta)
    optimal = policy_truth(scenario, {c: {t: 1.0} for c, t in best.items()}, mix)
    chosen = policy_truth(scenario, {c: {t: 1.0} for c, t in tiers.items()}, mix)
    return chosen.cost_per_shipped / optimal.cost_per_shipped


PROOF = Scenario(
    "proof", TIERS,
    {
        "docs": {"economy": Arm(0.6, 0.3), "frontier": FRONTIER},
        "bugfix": {"economy": Arm(0.25, 0.7), "frontier": FRONTIER},
        "feature": {"economy": Arm(0.35, 0.4), "frontier": FRONTIER},
    },
    {"economy": 0.5, "frontier": 0.5},
    notes="docs: economy saves 63% at the same quality; bugfix: frontier saves 28% and ships "
    "16 points more; feature: economy saves 22% but ships 10.5 points fewer",
)  # fmt: skip
"""The scorecard's proof: three classes with a known best tier each (the shares are unused)."""
PROOF_ROUTING = Routing({
    "docs": {"economy": 0.8, "frontier": 0.2},
    "bugfix": {"economy": 0.8, "frontier": 0.2},
    "feature": {"economy": 0.2, "frontier": 0.8},
})  # fmt: skip
"""The known policy: a 20% explore share in every class; docs and feature mostly on their best
tier, bugfix mostly mis-routed to economy."""


def realised_truth(
    scenario: Scenario, cells: Mapping[tuple[str, str], int], reference: str
) -> tuple[float, float]:
    """The exact realised saving and shipped-rate difference (routed - reference) of a history
    with ``cells`` tasks per (class, tier), as ``bot.engine.scorecard.scorecard`` defines them."""
    mix, shares = _mix(cells)
    routed = policy_truth(scenario, shares, mix)
    ref = policy_truth(scenario, {c: {reference: 1.0} for c in mix}, mix)
    return 1.0 - routed.cost_per_shipped / ref.cost_per_shipped, routed.shipped - ref.shipped


def curve_truth(
    scenario: Scenario, cells: Mapping[tuple[str, str], int], cheap: str, frontier: str
) -> dict[str, float]:
    """The exact figures of ``bot.engine.curve.Curve`` for a history with ``cells`` tasks per
    (class, tier): ``bot.engine.curve.figures`` of the exact cells."""
    import numpy as np  # here, not at module level: the recommender's proof never needs it

    mix, shares = _mix(cells)
    classes = sorted(mix)
    total = sum(mix.values())

    def row(tier: str, what: str) -> np.ndarray:
        return np.array([[getattr(truth(scenario, c, tier), what) for c in classes]])

    current = policy_truth(scenario, shares, mix)
    on_frontier = sum(mix[c] / total * shares[c].get(frontier, 0.0)
                      * truth(scenario, c, frontier).cost_per_task for c in classes)  # fmt: skip
    arrays = Arrays(row(cheap, "shipped"), row(frontier, "shipped"), row(cheap, "cost_per_task"),
                    row(frontier, "cost_per_task"), np.array([mix[c] / total for c in classes]),
                    np.array([current.shipped]), np.array([on_frontier]),
                    np.array([current.cost_per_task]))  # fmt: skip
    return {k: float(v[0]) for k, v in figures(arrays).items()}


def _mix(
    cells: Mapping[tuple[str, str], int],
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Class weights and per-class tier shares of a history's cell counts."""
    mix: dict[str, float] = defaultdict(float)
    for (task_class, _), n in cells.items():
        mix[task_class] += n
    shares: dict[str, dict[str, float]] = defaultdict(dict)
    for (task_class, tier), n in cells.items():
        shares[task_class][tier] = n / mix[task_class]
    return dict(mix), dict(shares)
