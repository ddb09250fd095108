"""The routing scorecard: does routing really save money? (issue 18, docs/metrics.md).

Two savings against a reference policy (by default every task on the most expensive tier):

* **invoice savings** X: the same tokens priced at the reference tier's dollars per token, against
  what they cost. It is what a cost dashboard shows, and it assumes the reference tier would have
  needed the same tokens and shipped the same tasks.
* **realised savings** Y: expected cost per shipped task of the routed policy against the
  reference policy, each from the per-(class, tier) posterior success rate and cost per task,
  the class mix held at the actual one, with a 90% interval from joint draws of outcomes and
  costs (``bot.stats.posterior``). Failed attempts, rework and abandoned work count here.

The **leak** X - Y is where the invoice's promise went. Where a needed cell is too thin the
scorecard gives no number for its class but what would settle it (``Thin``).

Pure: no I/O. ``Routed`` is what it needs of a finished task; ``routed`` builds it from tasks,
``bot.engine.simulate.routed_history`` from a known truth.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from bot import format as fmt
from bot.engine.attribution import ABANDONED, MISROUTE, REVERTED_SPEND, REWORK, Task
from bot.engine.report import Outcome, cells_of, outcomes
from bot.stats.posterior import INTERVAL, CellData, _draw_cell, quantile
from bot.stats.rule import Rule

if TYPE_CHECKING:
    import numpy as np

MOST_EXPENSIVE = "most-expensive"
"""Reference policy: every task on the tier with the highest dollars per token (the frontier)."""
MOST_USED = "most-used"
"""Reference policy: every task on the tier that ran the most tasks."""
LEAKS = (MISROUTE, REWORK, ABANDONED, REVERTED_SPEND)
"""Where spend that did not ship went (the waterfall's buckets, ``bot.engine.yields``)."""
DRAWS = 4000


@dataclass(frozen=True, slots=True)
class Routed:
    """One finished, routed task: the cells' ``Outcome`` and where its tokens and dollars went.

    ``usage`` maps each tier the task's attempts ran on to (priced tokens, dollars);
    ``spend`` the task's dollars per waterfall bucket; ``late`` says whether an escalated
    task went through a failed CI run or review before escalating (None: not escalated);
    ``model`` is its first model; ``merge_hours`` its time to merge (``hours_to_merge``; None:
    not merged through a pull request, or unknown).
    """

    outcome: Outcome
    usage: Mapping[str, tuple[float, Decimal]] = field(default_factory=dict)
    spend: Mapping[str, Decimal] = field(default_factory=dict)
    score: float | None = None
    strategy: str | None = None
    escalated: bool = False
    late: bool | None = None
    model: str | None = None
    merge_hours: float | None = None


def routed(tasks: Iterable[Task], merge_hours: Mapping[str, float] | None = None) -> list[Routed]:
    """The finished, routed tasks (those ``outcomes`` keeps) as the scorecard reads them, with
    the hours to merge of those ``merge_hours`` knows (by task id)."""
    kept = [t for t in tasks if t.tier is not None and t.status != "open"]
    hours = merge_hours or {}
    return [_routed(t, o, hours.get(t.id)) for t, o in zip(kept, outcomes(kept), strict=True)]


def hours_to_merge(
    task: Task, finished: datetime | None, authored: Mapping[str, datetime]
) -> float | None:
    """Hours from the task's start to its merge; None unless it merged through a pull request.

    The start is the earliest author time of its first attempt's commits (``authored`` by
    sha): a rebase resets commit times, not author times. The merge is when it finished
    (``bot.engine.attribution.finished_at``: its first merge). A start after the merge (clocks
    that disagree) is unknown too.
    """
    if not (task.merged and task.pr_numbers and task.attempts):
        return None
    return hours_from(task.attempts[0].commits, finished, authored)


def hours_from(
    commits: Iterable[str], finished: datetime | None, authored: Mapping[str, datetime]
) -> float | None:
    """Hours from the earliest author time of ``commits`` to ``finished``; None when either is
    unknown or the start is after the end."""
    starts = [authored[s] for s in commits if s in authored]
    if finished is None or not starts:
        return None
    hours = (finished - min(starts)).total_seconds() / 3600
    return hours if hours >= 0 else None


Charge = tuple[str | None, int, int, Decimal, Sequence[str]]
"""An attempt as a record reads it: tier, tokens, unpriced tokens, dollars, bounces."""


def _routed(task: Task, outcome: Outcome, merge_hours: float | None = None) -> Routed:
    charges = ((a.tier, a.tokens, a.unpriced_tokens, a.usd, a.bounces) for a in task.attempts)
    spend = {b: s.usd for b, s in task.spend.items()}
    return record(outcome, charges, spend, task.route_score, task.strategy, task.escalated,
                  task.model, merge_hours)  # fmt: skip


def record(
    outcome: Outcome,
    charges: Iterable[Charge],
    spend: Mapping[str, Decimal],
    score: float | None = None,
    strategy: str | None = None,
    escalated: bool = False,
    model: str | None = None,
    merge_hours: float | None = None,
) -> Routed:
    """A finished task's record from its attempts' charges, in order: the ledger builds it from
    a few stored columns (``bot.digest.query.routed_between``), ``routed`` from whole tasks."""
    usage: dict[str, tuple[float, Decimal]] = {}
    first: Sequence[str] | None = None  # the first attempt's bounces
    for tier, tokens, unpriced, usd, bounces in charges:
        if tier is not None:
            had_tokens, had_usd = usage.get(tier, (0.0, Decimal(0)))
            usage[tier] = (had_tokens + tokens - unpriced, had_usd + usd)
        first = bounces if first is None else first
    late = any(b != "escalated" for b in first or ()) if escalated else None
    return Routed(outcome, usage, dict(spend), score, strategy, escalated, late, model,
                  merge_hours)  # fmt: skip


# --- per-cell posterior draws, shared by the scorecard, the curve and the policy ---------------


@dataclass(frozen=True)
class Cell:
    """Joint posterior draws of one (class, tier) cell of ``k`` shipped tasks out of ``n``:
    shipped rate and cost per task.

    ``cost`` is None when the cell's cost is withheld (under half its tasks priced).
    """

    task_class: str
    tier: str
    k: int
    n: int
    shipped: np.ndarray
    cost: np.ndarray | None


def draw_cells(
    items: Iterable[Outcome], draws: int = DRAWS, seed: int = 0
) -> dict[tuple[str, str], Cell]:
    """Every (class, tier) cell's draws: the same draws the recommender weighs
    (``bot.stats.posterior``), with cost per task = shipped rate x cost per shipped task."""
    cells = {}
    for task_class, data in cells_of(items).items():
        for c in data:
            cells[(task_class, c.tier)] = _cell(c, draws, seed)
    return cells


def _cell(data: CellData, draws: int, seed: int) -> Cell:
    theta, cps = _draw_cell(data, draws, seed)
    cost = None if cps.draws is None else theta * _array(cps.draws)
    return Cell(data.task_class, data.tier, data.k, data.n, theta, cost)


def _array(values: Sequence[float]) -> np.ndarray:
    import numpy as np  # here, not at module level: most commands never draw (start-up)

    return np.asarray(values)


@dataclass(frozen=True)
class Estimate:
    """A posterior median with its equal-tailed 90% interval."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray | Sequence[float]) -> Estimate:
        """Of draws; non-finite ones (a ratio over a zero draw) are left out."""
        import numpy as np  # here, not at module level (start-up)

        x = np.asarray(values, dtype=float)
        srt = np.sort(x[np.isfinite(x)]).tolist()
        tail = (1.0 - INTERVAL) / 2
        return cls(quantile(srt, 0.5), quantile(srt, tail), quantile(srt, 1.0 - tail))


# --- too thin -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thin:
    """A cell a figure needs that lacks data, and what would settle it.

    ``more`` tasks on ``tier`` bring it to the rule's ``interval_tasks``; at an explore share of
    ``explore_share`` that takes about ``class_tasks`` more tasks of the class.
    """

    task_class: str
    tier: str
    n: int
    more: int
    explore_share: float
    class_tasks: int
    why: str = "too few tasks"

    def sentence(self) -> str:
        if self.more == 0:
            return f"{self.task_class} on {self.tier}: {self.why}; price more of its usage"
        return (
            f"{self.task_class} on {self.tier} has {self.n} task{'s' * (self.n != 1)} "
            f"({self.why}): sending {fmt.share(self.explore_share)} of {self.task_class} tasks to "
            f"{self.tier} settles it after about {self.class_tasks} more {self.task_class} tasks"
        )


def thin(task_class: str, tier: str, cells: Mapping, rule: Rule) -> Thin | None:
    """None when the cell has enough tasks and priced costs for an interval, else why not."""
    cell = cells.get((task_class, tier))
    n = 0 if cell is None else cell.n
    more = max(0, rule.interval_tasks - n)
    if more:
        class_tasks = math.ceil(more / rule.explore_share)
        return Thin(task_class, tier, n, more, rule.explore_share, class_tasks)
    if cell.cost is None:
        return Thin(task_class, tier, n, 0, rule.explore_share, 0, "under half its tasks priced")
    return None


# --- the scorecard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellLeak:
    """One routed (tier, class) cell against the reference tier on the same class."""

    tier: str
    task_class: str
    tasks: int
    invoice_saving: float | None
    realised_saving: Estimate
    leak: float | None


@dataclass(frozen=True)
class Scorecard:
    """What routing saved against ``reference`` over the covered classes (docs/metrics.md).

    Savings are shares of the reference's cost (0.25: 25% cheaper); ``shipped_points`` is the
    routed policy's shipped rate minus the reference's, in points. ``leak`` = invoice saving -
    realised saving (medians); ``leak_by`` splits it over ``LEAKS`` in proportion to the excess
    spend of each bucket over the reference tier's (``_leak_split``). Figures are None where
    ``thin`` leaves nothing to weigh.
    """

    reference: str
    tasks: int
    covered_tasks: int
    classes: tuple[str, ...]
    invoice_saving: float | None
    realised_saving: Estimate | None
    shipped_points: Estimate | None
    leak: float | None
    leak_by: Mapping[str, float]
    cells: tuple[CellLeak, ...]
    thin: tuple[Thin, ...]

    def sentence(self) -> str:
        """The headline: the invoice saving, then what routing saved per shipped task."""
        if self.realised_saving is None:
            why = "; ".join(t.sentence() for t in self.thin) or "no routed tasks"
            return f"Too little data to say what routing saves against {self.reference}: {why}."
        y, s = self.realised_saving, self.shipped_points
        invoice = ""
        if self.invoice_saving is not None:
            cut = fmt.share(self.invoice_saving)
            invoice = f"Routing cut the invoice by {cut} against {self.reference}; "
        lower = "lower" if s.median < 0 else "higher"
        return (
            f"{invoice}counting rework, bounces and mis-routes, it saved {fmt.share(y.median)} per "
            f"shipped task ({fmt.share(y.low)} to {fmt.share(y.high)}), at a shipped rate "
            f"{abs(s.median) * 100:.1f} points {lower}."
        )


def reference_tier(records: Sequence[Routed], reference: str = MOST_EXPENSIVE) -> str | None:
    """The reference policy's tier: a tier's name, ``MOST_EXPENSIVE`` or ``MOST_USED``."""
    if reference == MOST_USED:
        counts: dict[str, int] = defaultdict(int)
        for r in records:
            counts[r.outcome.tier] += 1
        return max(counts, key=lambda t: (counts[t], t)) if counts else None
    if reference == MOST_EXPENSIVE:
        prices = tier_prices(records)
        return max(prices, key=lambda t: (prices[t], t)) if prices else None
    return reference


def tier_prices(records: Iterable[Routed]) -> dict[str, float]:
    """Dollars per priced token of each tier, from the data: its dollars over its tokens.

    The records carry no list prices, so the tier's mean price over the period stands in.
    """
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in records:
        for tier, (tokens, usd) in r.usage.items():
            sums[tier][0] += tokens
            sums[tier][1] += float(usd)
    return {t: usd / tokens for t, (tokens, usd) in sums.items() if tokens > 0}


def invoice_saving(records: Iterable[Routed], price: float) -> float | None:
    """1 - dollars paid / the same priced tokens at ``price`` dollars a token."""
    paid = repriced = 0.0
    for r in records:
        for tokens, usd in r.usage.values():
            paid += float(usd)
            repriced += tokens * price
    return 1.0 - paid / repriced if repriced > 0 else None


def scorecard(
    records: Sequence[Routed],
    reference: str = MOST_EXPENSIVE,
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    draws: int = DRAWS,
    seed: int = 0,
) -> Scorecard:
    """The scorecard of ``records`` (the caller filters the period and scope) against
    ``reference``: a tier's name, ``MOST_EXPENSIVE`` (default) or ``MOST_USED``."""
    ref = reference_tier(records, reference)
    cells = draw_cells((r.outcome for r in records), draws, seed)
    by_class: dict[str, list[Routed]] = defaultdict(list)
    for r in records:
        by_class[r.outcome.task_class].append(r)
    thin_cells, covered = [], []
    for task_class, group in sorted(by_class.items()):
        tiers = sorted({r.outcome.tier for r in group} | ({ref} if ref else set()))
        lacking = [t for t in (thin(task_class, tier, cells, rule) for tier in tiers) if t]
        thin_cells.extend(lacking)
        if not lacking:
            covered.append(task_class)
    kept = [r for c in covered for r in by_class[c]]
    empty = Scorecard(ref or reference, len(records), 0, (), None, None, None, None, {}, (),
                      tuple(thin_cells))  # fmt: skip
    if ref is None or not kept:
        return empty
    price = tier_prices(records).get(ref)
    x = None if price is None else invoice_saving(kept, price)
    y, points = _realised(kept, cells, ref)
    y_est = Estimate.of(y)
    leak = None if x is None else x - y_est.median
    return Scorecard(
        reference=ref,
        tasks=len(records),
        covered_tasks=len(kept),
        classes=tuple(covered),
        invoice_saving=x,
        realised_saving=y_est,
        shipped_points=Estimate.of(points),
        leak=leak,
        leak_by=_leak_split(kept, ref, leak),
        cells=_cell_leaks(kept, cells, ref, price),
        thin=tuple(thin_cells),
    )


def _realised(
    records: Sequence[Routed], cells: Mapping[tuple[str, str], Cell], ref: str
) -> tuple[np.ndarray, np.ndarray]:
    """Draws of the realised saving and of the shipped-rate difference (routed - reference).

    Each policy's cost per shipped task is E[cost per task] / E[shipped] over the actual class
    mix: the routed policy weighs each cell by its tasks, the reference puts them on ``ref``.
    """
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in records:
        counts[(r.outcome.task_class, r.outcome.tier)] += 1
    cost = ship = ref_cost = ref_ship = 0.0
    for (task_class, tier), n in counts.items():
        cell, base = cells[(task_class, tier)], cells[(task_class, ref)]
        cost = cost + n * cell.cost
        ship = ship + n * cell.shipped
        ref_cost = ref_cost + n * base.cost
        ref_ship = ref_ship + n * base.shipped
    total = len(records)
    return 1.0 - (cost / ship) / (ref_cost / ref_ship), (ship - ref_ship) / total


def _leak_split(records: Sequence[Routed], ref: str, leak: float | None) -> dict[str, float]:
    """The leak over ``LEAKS``, in proportion to each bucket's excess spend: the routed tasks'
    dollars in the bucket minus what the reference tier's tasks of the same class lost there
    per dollar. A convention (the buckets interact); buckets the routed tasks wasted no more
    in get nothing, and with no excess at all the leak is not split."""
    if leak is None:
        return {}
    spent: dict[tuple[str, bool], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in records:
        bucket = spent[(r.outcome.task_class, r.outcome.tier == ref)]
        for b, usd in r.spend.items():
            bucket[b] += float(usd)
            bucket["total"] += float(usd)
    excess = dict.fromkeys(LEAKS, 0.0)
    for (task_class, on_ref), routed_spend in spent.items():
        base = spent.get((task_class, True), {})
        if on_ref or not base.get("total"):
            continue
        for b in LEAKS:
            share = base.get(b, 0.0) / base["total"]
            excess[b] += routed_spend.get(b, 0.0) - share * routed_spend["total"]
    positive = {b: max(v, 0.0) for b, v in excess.items()}
    total = sum(positive.values())
    return {b: leak * v / total for b, v in positive.items()} if total > 0 else {}


def _cell_leaks(
    records: Sequence[Routed],
    cells: Mapping[tuple[str, str], Cell],
    ref: str,
    price: float | None,
) -> tuple[CellLeak, ...]:
    """Each routed cell off the reference tier: its invoice saving, realised saving, leak."""
    groups: dict[tuple[str, str], list[Routed]] = defaultdict(list)
    for r in records:
        if r.outcome.tier != ref:
            groups[(r.outcome.tier, r.outcome.task_class)].append(r)
    rows = []
    for (tier, task_class), group in sorted(groups.items()):
        cell, base = cells[(task_class, tier)], cells[(task_class, ref)]
        y = Estimate.of(1.0 - (cell.cost / cell.shipped) / (base.cost / base.shipped))
        x = None if price is None else invoice_saving(group, price)
        leak = None if x is None else x - y.median
        rows.append(CellLeak(tier, task_class, len(group), x, y, leak))
    return tuple(rows)
