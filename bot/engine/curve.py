"""The routing-efficiency curve: RouteLLM's PGR, APGR and CPT in dollars (issue 18, section 2).

Per task class, the posterior shipped rate and cost per task on a cheap and a frontier tier.
Starting from every class on the cheap tier, classes move to the frontier tier in descending
order of shipped rate gained per extra dollar; each move is a vertex of the curve of
**PGR** (the share of the quality gap between all-cheap and all-frontier recovered) against the
**frontier-dollar share** (the frontier tier's share of the policy's dollars), from (0, 0) to
(1, 1). **APGR** is the area under it (trapezoids over the vertices, as RouteLLM's
``np.trapz``); **CPT$(x)** the frontier-dollar share at which PGR first reaches x (linear
interpolation between vertices, as RouteLLM's ``np.interp``). The current policy is a point;
its distance below the curve, at its own frontier-dollar share, is the quality mis-routing
costs. Every figure is a posterior median with a 90% interval over joint draws of every cell.

``strategies`` sets routing against cascading (``Agent-Route: strategy=``): cost per shipped
task, escalation rate, and the cost of escalating late (after a failed CI run or review)
against at once, and the median time to merge. The router's own threshold sweep
(``Agent-Route: score=``) is ``bot.engine.sweep``.

Pure: no I/O. See docs/metrics.md ("The routing-efficiency curve") and
../shared/reference/routing-economics.md, sections 1.1 and 1.5.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import format as fmt
from bot.engine.scorecard import (
    DRAWS,
    MOST_EXPENSIVE,
    Cell,
    Estimate,
    Routed,
    Thin,
    draw_cells,
    reference_tier,
    thin,
    tier_prices,
)
from bot.stats.posterior import Rate, bayes_bootstrap_means, cost_per_shipped, quantile, rate
from bot.stats.rule import Rule

if TYPE_CHECKING:
    import numpy as np

MIN_GAP = 0.01
"""Below this gap in shipped rate (all-frontier - all-cheap) PGR is not defined: no quality gap."""


@dataclass(frozen=True)
class Vertex:
    """One policy on the curve: after moving ``moved`` to the frontier tier (medians' curve)."""

    moved: tuple[str, ...]
    frontier_share: float
    pgr: float
    shipped: float
    cost_per_task: float


@dataclass(frozen=True)
class Curve:
    """The curve between ``cheap`` and ``frontier`` over ``classes`` (docs/metrics.md).

    ``vertices`` trace the curve at the cells' posterior medians (for the chart); the figures
    are posterior medians with 90% intervals. ``gap`` is all-frontier's shipped rate minus
    all-cheap's; below ``MIN_GAP`` the PGR figures are None and ``sentence`` says why.
    ``below`` is the curve's PGR at the current policy's frontier-dollar share minus the
    current policy's PGR, and ``below_points`` the same in points of shipped rate.
    """

    cheap: str
    frontier: str
    classes: tuple[str, ...]
    vertices: tuple[Vertex, ...]
    gap: Estimate | None
    current_share: Estimate | None
    current_pgr: Estimate | None
    apgr: Estimate | None
    cpt50: Estimate | None
    cpt80: Estimate | None
    below: Estimate | None
    below_points: Estimate | None
    thin: tuple[Thin, ...]

    def sentence(self) -> str:
        if self.apgr is None:
            if self.thin:
                why = "; ".join(t.sentence() for t in self.thin)
                return f"Too little data for the routing-efficiency curve: {why}."
            if not self.cheap or self.cheap == self.frontier:
                return "No curve: it needs routed tasks on a cheap and a frontier tier."
            return (
                f"No quality gap between {self.cheap} and {self.frontier}: all-{self.cheap} "
                "ships as much, so there is no curve to trace."
            )
        p, c50 = self.current_pgr, self.cpt50
        return (
            f"The current routing recovers {fmt.share(p.median)} of the quality gap between "
            f"{self.cheap} and {self.frontier} ({fmt.share(p.low)} to {fmt.share(p.high)}); "
            f"the best order recovers half of it with {fmt.share(c50.median)} of the dollars on "
            f"{self.frontier} ({fmt.share(c50.low)} to {fmt.share(c50.high)}). "
            f"APGR {self.apgr.median:.2f}; the current policy ships "
            f"{self.below_points.median * 100:.1f} points less than the curve."
        )


def curve(
    records: Sequence[Routed],
    cheap: str | None = None,
    frontier: str = MOST_EXPENSIVE,
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    draws: int = DRAWS,
    seed: int = 0,
) -> Curve:
    """The curve of ``records`` (the caller filters period and scope); ``frontier`` as
    ``scorecard``'s reference, ``cheap`` by default the tier with the lowest dollars per token."""
    top = reference_tier(records, frontier)
    prices = tier_prices(records)
    low = cheap or (min(prices, key=lambda t: (prices[t], t)) if prices else None)
    cells = draw_cells((r.outcome for r in records), draws, seed)
    mix: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        mix[r.outcome.task_class][r.outcome.tier] += 1
    lacking, classes = [], []
    for task_class in sorted(mix):
        found = [t for t in (thin(task_class, tier, cells, rule) for tier in (low, top)) if t]
        lacking.extend(found)
        if not found:
            classes.append(task_class)
    empty = Curve(low or "", top or "", (), (), *(None,) * 8, tuple(lacking))
    if top is None or low is None or top == low or not classes:
        return empty
    arrays = _arrays(cells, mix, classes, low, top)
    return _figures(low, top, tuple(classes), arrays, lacking)


@dataclass(frozen=True)
class Arrays:
    """Per class (columns) and draw (rows): shipped rate and cost per task on either tier; the
    class mix; the current policy's shipped rate, frontier dollars and all dollars per task."""

    ship_cheap: np.ndarray
    ship_frontier: np.ndarray
    cost_cheap: np.ndarray
    cost_frontier: np.ndarray
    mix: np.ndarray
    current_ship: np.ndarray
    current_frontier: np.ndarray
    current_cost: np.ndarray


def _arrays(
    cells: Mapping[tuple[str, str], Cell],
    mix: Mapping[str, Mapping[str, int]],
    classes: Sequence[str],
    cheap: str,
    frontier: str,
) -> Arrays:
    import numpy as np  # here, not at module level: most commands never draw (start-up)

    def stack(tier: str, what: str) -> np.ndarray:
        return np.stack([getattr(cells[(c, tier)], what) for c in classes], axis=1)

    total = sum(sum(mix[c].values()) for c in classes)
    ship = cost = on_frontier = 0.0
    for c in classes:
        for tier, n in mix[c].items():
            cell = cells.get((c, tier))
            if cell is None or cell.cost is None:  # a thin middle tier: its class's cheap cell
                cell = cells[(c, cheap)]
            ship = ship + n / total * cell.shipped
            cost = cost + n / total * cell.cost
            if tier == frontier:
                on_frontier = on_frontier + n / total * cell.cost
    weights = np.array([sum(mix[c].values()) / total for c in classes])
    return Arrays(stack(cheap, "shipped"), stack(frontier, "shipped"), stack(cheap, "cost"),
                  stack(frontier, "cost"), weights, ship, on_frontier, cost)  # fmt: skip


def trace(a: Arrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per draw, the curve's vertices: frontier-dollar share, PGR, shipped rate and cost per
    task after moving 0, 1, ..., all classes (rows: draws), and the order of the moves."""
    import numpy as np  # here, not at module level (start-up)

    dp = (a.ship_frontier - a.ship_cheap) * a.mix
    dc = (a.cost_frontier - a.cost_cheap) * a.mix
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(dc > 0, dp / dc, np.where(dp > 0, np.inf, -np.inf))
    order = np.argsort(-gain, axis=1, kind="stable")
    rows = np.arange(dp.shape[0])[:, None]
    zero = np.zeros((dp.shape[0], 1))
    ship = np.sum(a.ship_cheap * a.mix, axis=1)[:, None] + np.hstack(
        [zero, np.cumsum(dp[rows, order], axis=1)]
    )
    frontier = np.hstack([zero, np.cumsum((a.cost_frontier * a.mix)[rows, order], axis=1)])
    cheap_left = np.sum(a.cost_cheap * a.mix, axis=1)[:, None] - np.hstack(
        [zero, np.cumsum((a.cost_cheap * a.mix)[rows, order], axis=1)]
    )
    cost = frontier + cheap_left
    gap = ship[:, -1:] - ship[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        pgr = (ship - ship[:, :1]) / gap
    return frontier / cost, pgr, ship, cost, order


FIGURES = ("gap", "current_share", "current_pgr", "apgr", "cpt50", "cpt80", "below", "below_points")


def figures(a: Arrays) -> dict[str, np.ndarray]:
    """Every figure of ``Curve``, one value per draw (row of ``a``): the truth of a simulated
    history is the same function of its exact cells (``bot.engine.simulate.curve_truth``)."""
    import numpy as np  # here, not at module level (start-up)

    share, pgr, ship, _, _ = trace(a)
    gap = ship[:, -1] - ship[:, 0]
    current_share = a.current_frontier / a.current_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        current_pgr = (a.current_ship - ship[:, 0]) / gap
    below = _interp_rows(current_share, share, pgr) - current_pgr
    area = np.sum(np.diff(share, axis=1) * (pgr[:, 1:] + pgr[:, :-1]) / 2, axis=1)
    return {
        "gap": gap,
        "current_share": current_share,
        "current_pgr": current_pgr,
        "apgr": area,
        "cpt50": crossing(pgr, share, 0.5),
        "cpt80": crossing(pgr, share, 0.8),
        "below": below,
        "below_points": below * gap,
    }


def _figures(
    cheap: str, frontier: str, classes: tuple[str, ...], a: Arrays, lacking: list[Thin]
) -> Curve:
    vertices = _median_vertices(classes, a)
    found = figures(a)
    gap = Estimate.of(found["gap"])
    if gap.median < MIN_GAP:
        return Curve(cheap, frontier, classes, vertices, gap, *(None,) * 7, tuple(lacking))
    estimates = {k: Estimate.of(v) for k, v in found.items()}
    return Curve(cheap, frontier, classes, vertices, **estimates, thin=tuple(lacking))


def _median_vertices(classes: tuple[str, ...], a: Arrays) -> tuple[Vertex, ...]:
    """The curve at the cells' posterior medians: what a chart draws."""
    import numpy as np  # here, not at module level (start-up)

    def med(x: np.ndarray) -> np.ndarray:
        return np.median(x, axis=0, keepdims=True)

    m = Arrays(med(a.ship_cheap), med(a.ship_frontier), med(a.cost_cheap),
               med(a.cost_frontier), a.mix, a.current_ship, a.current_frontier,
               a.current_cost)  # fmt: skip
    share, pgr, ship, cost, order = trace(m)
    moved = [classes[i] for i in order[0]]
    return tuple(
        Vertex(
            tuple(moved[:j]),
            float(share[0, j]),
            float(pgr[0, j]),
            float(ship[0, j]),
            float(cost[0, j]),
        )  # fmt: skip
        for j in range(len(classes) + 1)
    )


def crossing(ys: np.ndarray, xs: np.ndarray, target: float) -> np.ndarray:
    """Per row, the x where y first reaches ``target``, interpolated linearly within the
    segment (RouteLLM's CPT); rows whose y never reaches it give nan."""
    import numpy as np  # here, not at module level (start-up)

    reached = ys >= target
    j = np.argmax(reached, axis=1)
    rows = np.arange(ys.shape[0])
    prev = np.maximum(j - 1, 0)
    y0, y1, x0, x1 = ys[rows, prev], ys[rows, j], xs[rows, prev], xs[rows, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(y1 > y0, (target - y0) / (y1 - y0), 0.0)
    x = np.where(j == 0, xs[rows, 0], x0 + np.clip(t, 0.0, 1.0) * (x1 - x0))
    return np.where(reached.any(axis=1), x, np.nan)


def _interp_rows(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Per row, the curve's y at ``x`` (xs increase along each row)."""
    import numpy as np  # here, not at module level (start-up)

    return np.array([np.interp(xi, xr, yr) for xi, xr, yr in zip(x, xs, ys, strict=True)])


# --- routing against cascading -----------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """One routing strategy (``Agent-Route: strategy=``; None: not stated): its tasks, shipped
    and escalation rates (Wilson 95%), cost per shipped task (90%, None: withheld), and among
    its escalated tasks the mean cost (90%) of those that went through a failed CI run or review
    before escalating (``late``) against those that escalated at once (``immediate``); the
    median hours to merge of its ``merged_tasks`` merged tasks whose time is known (None: none)."""

    strategy: str | None
    tasks: int
    shipped: Rate
    escalated: Rate
    cost_per_shipped: Estimate | None
    late: Estimate | None
    immediate: Estimate | None
    late_tasks: int
    immediate_tasks: int
    merge_hours: float | None
    merged_tasks: int


def strategies(records: Sequence[Routed], *, draws: int = DRAWS, seed: int = 0) -> list[Strategy]:
    """Routing against cascading: the figures of each strategy, in the order of their names."""
    groups: dict[str | None, list[Routed]] = defaultdict(list)
    for r in records:
        groups[r.strategy].append(r)
    return [_strategy(name, group, draws, seed) for name, group in
            sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]  # fmt: skip


def _strategy(name: str | None, group: Sequence[Routed], draws: int, seed: int) -> Strategy:
    shipped = [r.outcome.cost for r in group if r.outcome.shipped]
    failed = [r.outcome.cost for r in group if not r.outcome.shipped]
    cps = cost_per_shipped(shipped, failed, draws, seed)
    late = [float(r.outcome.cost) for r in group if r.late and r.outcome.cost is not None]
    now = [float(r.outcome.cost) for r in group if r.late is False and r.outcome.cost is not None]
    hours = sorted(r.merge_hours for r in group if r.merge_hours is not None)
    return Strategy(
        strategy=name,
        tasks=len(group),
        shipped=rate(len(shipped), len(group)),
        escalated=rate(sum(r.escalated for r in group), len(group)),
        cost_per_shipped=None if cps.withheld else Estimate(cps.median, cps.low, cps.high),
        late=_mean(late, draws, seed),
        immediate=_mean(now, draws, seed),
        late_tasks=len(late),
        immediate_tasks=len(now),
        merge_hours=quantile(hours, 0.5) if hours else None,
        merged_tasks=len(hours),
    )


def _mean(costs: Sequence[float], draws: int, seed: int) -> Estimate | None:
    """The Bayesian bootstrap's median and 90% interval of a mean cost; None without costs."""
    if not costs:
        return None
    return Estimate.of(bayes_bootstrap_means(costs, draws, seed))
