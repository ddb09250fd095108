"""The router's own threshold sweep: is this router better than a coin? (issue 18, section 2).

A router that writes ``Agent-Route: score=`` says how much a task needs the stronger tier;
RouteLLM sends a task to the strong model when its score reaches a threshold and sweeps that
threshold. Here, over the finished tasks that carry a score, each threshold sends the tasks
scoring at least it to the stronger tier and the others to the weaker: the **share routed to
the stronger tier** against the **expected shipped rate** traces the router's curve, and PGR
(the share of the quality gap between all-weak and all-strong recovered) against the share is
RouteLLM's. **APGR** is its area (trapezoids, as ``np.trapz``); a random router's expected
shipped rate rises linearly with the share, so a coin's APGR is 0.5. "Better than a coin?" is
P(APGR > 0.5).

Production logs have each task's outcome on one tier only, so a task's outcome on the tier a
threshold sends it to is its (class, tier) cell's posterior shipped rate, where RouteLLM has
per-query quality on both models. The sweep thus credits the router for sending up the classes
that gain the most, not for telling hard tasks from easy ones within a class: that would need
outcomes on both tiers for the same scores. Each draw joins the cells' posterior draws
(``draw_cells``, as the curve) with a Bayesian-bootstrap reweighting of the tasks, so the
verdict counts which tasks happened to get which scores as well as the cells' rates. Scores
are taken to two decimals: at most 101 thresholds.

Pure: no I/O. See docs/metrics.md ("The router's threshold sweep") and docs/statistics.md
(section 7).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot import format as fmt
from bot.engine.curve import MIN_GAP
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
from bot.stats.rule import Rule

if TYPE_CHECKING:
    import numpy as np

COIN = 0.5
"""A random router's APGR: its expected shipped rate rises linearly with the share."""
SURE = 0.95
"""P(APGR > COIN) from which the router is called better than a coin (at most 1 - SURE: worse)."""
SCORE_PLACES = 2
VERDICTS = {
    "better": "better than a coin",
    "worse": "worse than a coin",
    "unsure": "not shown to beat a coin",
}


@dataclass(frozen=True)
class Threshold:
    """One threshold at the cells' posterior medians, the tasks as observed: those scoring at
    least ``score`` go to the stronger tier (None: above every score, all on the weaker)."""

    score: float | None
    share: float
    shipped: float
    pgr: float


@dataclass(frozen=True)
class Sweep:
    """The sweep of ``tasks`` scored tasks between ``weak`` and ``strong`` (docs/metrics.md).

    ``unscored`` routed tasks carry no score; ``thin`` cells leave their classes' tasks out
    (the sweep goes on over the others' when they are at least ``minimum``); ``classes`` are
    the swept ones. Within one class every threshold is a coin (its tasks share one cell), so
    the sweep needs two.
    ``gap`` is all-strong's shipped rate minus all-weak's; ``apgr`` and ``p_better``
    (P(APGR > 0.5)) are None when there is nothing to sweep, and ``sentence`` says why.
    """

    weak: str
    strong: str
    tasks: int
    unscored: int
    thresholds: tuple[Threshold, ...]
    gap: Estimate | None
    apgr: Estimate | None
    p_better: float | None
    thin: tuple[Thin, ...]
    minimum: int
    classes: tuple[str, ...] = ()

    @property
    def verdict(self) -> str | None:
        """ "better", "worse" or "unsure" than a coin; None without an APGR."""
        if self.p_better is None:
            return None
        if self.p_better >= SURE:
            return "better"
        return "worse" if self.p_better <= 1 - SURE else "unsure"

    def sentence(self) -> str:
        if self.apgr is None:
            return f"No threshold sweep of the router: {self._why()}."
        a, says = self.apgr, VERDICTS[self.verdict]
        return (
            f"Swept over its threshold, the router's {self.tasks} scored tasks recover APGR "
            f"{a.median:.2f} of the quality gap between {self.weak} and {self.strong} "
            f"({a.low:.2f} to {a.high:.2f}) against a coin's 0.50: {says} "
            f"(P(APGR > 0.5) = {fmt.share(self.p_better)})."
        )

    def _why(self) -> str:
        if self.thin and self.tasks < self.minimum:
            return "too little data: " + "; ".join(t.sentence() for t in self.thin)
        if self.tasks < self.minimum:
            return (
                f"{self.tasks} finished task{'s carry' if self.tasks != 1 else ' carries'} a score "
                f"(Agent-Route: score=); it needs {self.minimum}"
            )
        if self.gap is None:
            return f"it needs scored tasks on a weaker tier and on {self.strong or 'a stronger'}"
        if len(self.thresholds) < 3:
            return "every scored task has the same score: the router separates nothing"
        if len(self.classes) < 2:
            return (
                f"its scored tasks with enough data are all {self.classes[0]}: the sweep weighs "
                "classes' shipped rates, so within one class every threshold does as well as a coin"
            )
        return (
            f"no quality gap between {self.weak} and {self.strong}: all-{self.weak} ships as much"
        )


def sweep(
    records: Sequence[Routed],
    weak: str | None = None,
    strong: str = MOST_EXPENSIVE,
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    draws: int = DRAWS,
    seed: int = 0,
) -> Sweep:
    """The sweep of ``records``' scored tasks (the caller filters period and scope);
    ``strong`` and ``weak`` as ``bot.engine.curve.curve``'s ``frontier`` and ``cheap``."""
    top = reference_tier(records, strong)
    prices = tier_prices(records)
    low = weak or (min(prices, key=lambda t: (prices[t], t)) if prices else None)
    cells = draw_cells((r.outcome for r in records), draws, seed)
    scored = [r for r in records if r.score is not None]
    lacking = []
    for task_class in sorted({r.outcome.task_class for r in scored}):
        for tier in (low, top):
            found = thin(task_class, tier, cells, rule) if tier else None
            if found is not None and found.more:  # the sweep weighs rates, not costs
                lacking.append(found)
    left_out = {t.task_class for t in lacking}
    kept = [r for r in scored if r.outcome.task_class not in left_out]
    empty = Sweep(low or "", top or "", len(kept), len(records) - len(scored), (), None, None,
                  None, tuple(lacking), rule.interval_tasks)  # fmt: skip
    if len(kept) < rule.interval_tasks or not low or not top or low == top:
        return empty
    counts, scores, classes = _groups(kept)
    weak_ship, strong_ship = (_stack(cells, classes, t) for t in (low, top))
    _, ship = trace(counts[None] / len(kept), weak_ship, strong_ship)
    gap = Estimate.of(ship[:, -1] - ship[:, 0])
    shown = _median_thresholds(scores, counts, weak_ship, strong_ship)
    found = replace(empty, thresholds=shown, gap=gap, classes=tuple(classes))
    if len(scores) < 2 or len(classes) < 2 or gap.median < MIN_GAP:
        return found
    apgr = area(*trace(_bootstrap(counts, draws, seed), weak_ship, strong_ship))
    return replace(found, apgr=Estimate.of(apgr), p_better=float((apgr > COIN).mean()))


def _groups(kept: Sequence[Routed]) -> tuple[np.ndarray, list[float], list[str]]:
    """Tasks per (score, class), scores from the highest down (rows) and classes (columns)."""
    import numpy as np  # here, not at module level: most commands never draw (start-up)

    tally: dict[tuple[float, str], int] = defaultdict(int)
    for r in kept:
        tally[(round(r.score, SCORE_PLACES), r.outcome.task_class)] += 1
    scores = sorted({s for s, _ in tally}, reverse=True)
    classes = sorted({c for _, c in tally})
    counts = np.zeros((len(scores), len(classes)))
    for (s, c), n in tally.items():
        counts[scores.index(s), classes.index(c)] = n
    return counts, scores, classes


def _stack(cells: Mapping[tuple[str, str], Cell], classes: Sequence[str], tier: str) -> np.ndarray:
    import numpy as np  # here, not at module level (start-up)

    return np.stack([cells[(c, tier)].shipped for c in classes], axis=1)


def _bootstrap(counts: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Per draw, the Bayesian bootstrap's weights of the (score, class) groups: Exp(1) weights
    of the tasks summed per group (a Gamma of the group's count), normalised."""
    import numpy as np  # here, not at module level (start-up)

    rng = np.random.default_rng([seed, 18])
    w = rng.gamma(np.broadcast_to(counts, (draws, *counts.shape)))
    return w / w.sum(axis=(1, 2), keepdims=True)


def trace(weights: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per draw (rows), the share sent to the stronger tier and the expected shipped rate at
    each threshold, from all on the weaker tier to all on the stronger.

    ``weights`` are the (draws or 1) x scores x classes shares of the tasks, scores from the
    highest down; ``weak`` and ``strong`` the draws x classes shipped rates of each tier.
    """
    import numpy as np  # here, not at module level (start-up)

    rows = max(weights.shape[0], weak.shape[0])
    sent = np.broadcast_to(np.cumsum(weights, axis=1), (rows, *weights.shape[1:]))
    zero = np.zeros((rows, 1))
    base = np.sum(weights.sum(axis=1) * weak, axis=1)
    share = np.hstack([zero, sent.sum(axis=2)])
    ship = base[:, None] + np.hstack([zero, np.einsum("dgc,dc->dg", sent, strong - weak)])
    return share, ship


def pgr(ship: np.ndarray) -> np.ndarray:
    """PGR at each threshold: the share of the gap between all-weak and all-strong recovered."""
    import numpy as np  # here, not at module level (start-up)

    with np.errstate(divide="ignore", invalid="ignore"):
        return (ship - ship[:, :1]) / (ship[:, -1:] - ship[:, :1])


def area(share: np.ndarray, ship: np.ndarray) -> np.ndarray:
    """APGR per draw: the area under PGR against the share, by trapezoids."""
    import numpy as np  # here, not at module level (start-up)

    y = pgr(ship)
    return np.sum(np.diff(share, axis=1) * (y[:, 1:] + y[:, :-1]) / 2, axis=1)


def _median_thresholds(
    scores: Sequence[float], counts: np.ndarray, weak: np.ndarray, strong: np.ndarray
) -> tuple[Threshold, ...]:
    """The thresholds at the cells' posterior medians: what a chart and a table show."""
    import numpy as np  # here, not at module level (start-up)

    def med(x: np.ndarray) -> np.ndarray:
        return np.median(x, axis=0, keepdims=True)

    share, ship = trace(counts[None] / counts.sum(), med(weak), med(strong))
    y = pgr(ship)
    return tuple(
        Threshold(s, float(share[0, j]), float(ship[0, j]), float(y[0, j]))
        for j, s in enumerate([None, *scores])
    )
