"""The decision rule of the routing advice: switch a task class to another tier, keep it, or
explore, with error control (docs/statistics.md, section 5).

Why a module of its own: ``bot.stats.posterior`` estimates each cell on its own; this module
only compares cells' draws, so the thresholds that decide (``Rule``) live in one place. A switch
needs a material saving and no quality loss beyond a tolerance, at 99% and 95% posterior
probability; its errors are measured by simulation (``bot.engine.simulate``,
bench/recommender_simulation.py). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot import format as fmt
from bot.stats.posterior import (
    INTERVAL,
    CellData,
    CellSummary,
    CostEstimate,
    Studentised,
    _check_level,
    _draw_cell,
    _summary,
    quantile,
    saving_interval,
    studentised,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DELTA",
    "MIN_SAVING",
    "Action",
    "Recommendation",
    "Rule",
    "best_tier",
    "enough",
    "recommend",
]

Action = Literal["switch", "keep", "explore"]

DELTA = 0.05
"""Tolerated loss of success rate when switching (5 points)."""
MIN_SAVING = 0.05
"""A switch must save at least this share of the current tier's cost per shipped task."""

Drawn = tuple["np.ndarray", CostEstimate]
"""A cell's theta draws and cost estimate (``bot.stats.posterior._draw_cell``)."""


@dataclass(frozen=True)
class Rule:
    """The thresholds of the decision rule (docs/statistics.md, section 5)."""

    delta: float = DELTA
    min_saving: float = MIN_SAVING
    p_cheaper: float = 0.99
    """Stricter than ``p_quality``: the bootstrap of heavy-tailed costs misses the rare dear task,
    and at 0.95 a saving under the minimum was advised in up to 8% of simulated histories."""
    p_quality: float = 0.95
    min_tasks: int = 5
    explore_share: float = 0.10
    interval_tasks: int = 30
    """Tasks on each tier before the saving's 90% interval is shown: below, the intervals of
    the posterior draws held the truth in only 78-88% of simulated histories."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.delta < 1.0:
            raise ValueError(f"delta must be in [0, 1), got {self.delta!r}")
        if not 0.0 <= self.min_saving < 1.0:
            raise ValueError(f"min_saving must be in [0, 1), got {self.min_saving!r}")
        _check_level(self.p_cheaper, "p_cheaper")
        _check_level(self.p_quality, "p_quality")
        _check_level(self.explore_share, "explore_share")
        if self.min_tasks < 0 or self.interval_tasks < 0:
            raise ValueError("min_tasks and interval_tasks must be >= 0")


@dataclass(frozen=True)
class Recommendation:
    """The decision for one task class, from ``from_tier`` (current) toward ``to_tier``.

    ``p_cheaper`` = P(CPS_to <= (1 - min_saving) CPS_from), the probability of a material saving,
    None when a cost estimate is withheld; ``p_quality`` = P(theta_to >= theta_from - delta).
    ``expected_saving_per_task`` is the posterior median of CPS_from - CPS_to in dollars per
    shipped task (a median, because the mean of a ratio may not exist), with its 90% interval in
    ``saving_low`` / ``saving_high``: the studentised bootstrap's (``saving_interval``), closer to
    its level on heavy-tailed costs than the draws' quantiles. It is None below
    ``Rule.interval_tasks`` on either tier, where it would not hold its level. ``explore_share``
    is the share of the class to send to ``to_tier`` (0 unless "explore").
    """

    action: Action
    from_tier: str
    to_tier: str
    p_cheaper: float | None
    p_quality: float | None
    expected_saving_per_task: float | None
    reason: str
    saving_low: float | None = None
    saving_high: float | None = None
    explore_share: float = 0.0
    current: CellSummary | None = None
    candidate: CellSummary | None = None


def enough(cells: Iterable[CellData], rule: Rule) -> bool:
    """Every cell has ``rule.min_tasks`` tasks: below that no switch and no keep is advised,
    since a handful of tasks can show neither tier to be better."""
    return all(c.n >= rule.min_tasks for c in cells)


def recommend(
    current: CellData,
    candidate: CellData,
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    draws: int = 4000,
    seed: int = 0,
) -> Recommendation:
    """Should the class move from ``current`` (tier A) to ``candidate`` (tier B)?

    With S = 1 - CPS_B / CPS_A the relative saving and m = ``rule.min_saving``:

    * explore: n_A < min_tasks or n_B < min_tasks.
    * switch: both cost estimates present, P(S >= m) >= p_cheaper and
      P(theta_B >= theta_A - delta) >= p_quality. Each is a one-sided test (at 1% and 5% by
      default), so a switch that saves less than m, or loses more than delta, is rarely advised.
    * keep: the evidence against B is as strong: P(S < m) >= p_cheaper (needs both costs), or
      P(theta_B < theta_A - delta) >= p_quality.
    * explore otherwise (send ``explore_share`` of the class to B to learn).

    Each cell's draws come from ``cell_seed(seed, tier, task_class)``.
    """
    if current.task_class != candidate.task_class:
        raise ValueError(
            f"cells are for different classes: {current.task_class!r}, {candidate.task_class!r}"
        )
    if current.tier == candidate.tier:
        raise ValueError(f"current and candidate are the same tier {current.tier!r}")
    drawn_a, drawn_b = _draw_cell(current, draws, seed), _draw_cell(candidate, draws, seed)
    interval = _interval(_resampled(current, rule, draws, seed), candidate, rule, draws, seed)
    return _compare(current, candidate, drawn_a, drawn_b, rule, interval)


@dataclass(frozen=True)
class _Evidence:
    """What the paired draws say about B against A; the cost side is None without both costs.

    Each probability and its complement come from one count, so they are exact complements."""

    p_quality: float
    p_worse: float
    p_cheaper: float | None = None
    p_short: float | None = None
    saving: float | None = None
    low: float | None = None
    high: float | None = None


def _compare(
    current: CellData,
    candidate: CellData,
    drawn_a: Drawn,
    drawn_b: Drawn,
    rule: Rule,
    interval: tuple[float, float] | None,
) -> Recommendation:
    """One comparison from both cells' draws, paired by index (the cells are independent), and
    the saving's interval (``_interval``)."""
    cost_a, cost_b = drawn_a[1], drawn_b[1]
    ev = _evidence(drawn_a, drawn_b, rule, interval)
    decidable = enough((current, candidate), rule)
    action, why = _decide(rule, decidable, ev, current.tier, candidate.tier)
    return Recommendation(
        action=action,
        from_tier=current.tier,
        to_tier=candidate.tier,
        p_cheaper=ev.p_cheaper,
        p_quality=ev.p_quality,
        expected_saving_per_task=ev.saving,
        reason=_reason(action, why, current, candidate, cost_a, cost_b, ev, rule),
        saving_low=ev.low,
        saving_high=ev.high,
        explore_share=rule.explore_share if action == "explore" else 0.0,
        current=_summary(current, cost_a),
        candidate=_summary(candidate, cost_b),
    )


def _resampled(cell: CellData, rule: Rule, draws: int, seed: int) -> Studentised | None:
    """The cell's studentised bootstrap, where an interval may be shown: from
    ``rule.interval_tasks`` tasks and with its cost (None otherwise)."""
    return studentised(cell, draws, seed) if cell.n >= rule.interval_tasks else None


def _interval(
    current: Studentised | None, candidate: CellData, rule: Rule, draws: int, seed: int
) -> tuple[float, float] | None:
    """The saving's 90% interval; None below ``rule.interval_tasks`` on either tier or without
    both costs, where none holds its level."""
    other = None if current is None else _resampled(candidate, rule, draws, seed)
    return None if current is None or other is None else saving_interval(current, other, INTERVAL)


def _evidence(
    drawn_a: Drawn, drawn_b: Drawn, rule: Rule, interval: tuple[float, float] | None
) -> _Evidence:
    """The probabilities of the rule and the median saving per shipped task, draw by draw."""
    import numpy as np  # here, not at module level (start-up)

    (th_a, cost_a), (th_b, cost_b) = drawn_a, drawn_b
    draws = len(th_a)
    no_worse = int(np.count_nonzero(th_b >= th_a - rule.delta))
    quality = {"p_quality": no_worse / draws, "p_worse": (draws - no_worse) / draws}
    if cost_a.draws is None or cost_b.draws is None:
        return _Evidence(**quality)
    ca, cb = np.array(cost_a.draws), np.array(cost_b.draws)
    material = int(np.count_nonzero(cb <= (1.0 - rule.min_saving) * ca))
    low, high = (None, None) if interval is None else interval
    return _Evidence(
        **quality,
        p_cheaper=material / draws,
        p_short=(draws - material) / draws,
        saving=quantile(np.sort(ca - cb).tolist(), 0.5),
        low=low,
        high=high,
    )


def _decide(rule: Rule, decidable: bool, ev: _Evidence, a: str, b: str) -> tuple[Action, str]:
    """The action of ``recommend`` and why, in the rule's order: too few tasks, switch, keep."""
    m, d = fmt.share(rule.min_saving), f"{rule.delta:g}"
    if not decidable:
        return "explore", f"too few tasks to decide (need >= {rule.min_tasks} on both tiers)"
    cheaper = ev.p_cheaper is not None and ev.p_cheaper >= rule.p_cheaper
    if cheaper and ev.p_quality >= rule.p_quality:
        return "switch", (
            f"{b} saves at least {m} per shipped task (P >= {rule.p_cheaper:g}) and its success "
            f"rate is no worse than {a}'s minus {d} (P >= {rule.p_quality:g})"
        )
    if ev.p_short is not None and ev.p_short >= rule.p_cheaper:
        return "keep", f"{b} does not save {m} per shipped task (P >= {rule.p_cheaper:g})"
    if ev.p_worse >= rule.p_quality:
        return "keep", (
            f"{b}'s success rate is lower than {a}'s by more than {d} (P >= {rule.p_quality:g})"
        )
    return "explore", "evidence not yet conclusive"


def _reason(
    action: Action,
    why: str,
    current: CellData,
    candidate: CellData,
    cost_a: CostEstimate,
    cost_b: CostEstimate,
    ev: _Evidence,
    rule: Rule,
) -> str:
    """The one-line reason: the action, why, what to do next, then the figures behind it, so a
    reader can check the advice without the dashboard."""
    withheld = [f"{c.tier}: {e.reason}" for c, e in ((current, cost_a), (candidate, cost_b))
                if e.withheld]  # fmt: skip
    if withheld:
        why += "; never switch without costs: " + "; ".join(withheld)
    if action == "explore":
        why += (
            f"; send ~{fmt.share(rule.explore_share)} of {current.task_class!r} to {candidate.tier}"
        )
    return f"{action}: {why} ({_figures(current, candidate, ev, rule)})"


def _figures(current: CellData, candidate: CellData, ev: _Evidence, rule: Rule) -> str:
    """Both probabilities, both n's and the median saving with its interval (if shown)."""
    a, b = current.tier, candidate.tier
    pc = fmt.NOT_APPLICABLE if ev.p_cheaper is None else f"{ev.p_cheaper:.3f}"
    text = (
        f"P({b} saves >= {fmt.share(rule.min_saving)}) = {pc}, "
        f"P(theta_{b} >= theta_{a} - {rule.delta:g}) = {ev.p_quality:.3f}, "
        f"n_{a} = {current.n}, n_{b} = {candidate.n}"
    )
    if ev.saving is None:
        return text
    text += f"; median saving {ev.saving:.4g} $/shipped task"
    if ev.low is None:
        return text + f" (no interval under {rule.interval_tasks} tasks a tier)"
    return text + f" (90% interval [{ev.low:.4g}, {ev.high:.4g}])"


def best_tier(
    cells_for_class: Sequence[CellData],
    current_tier: str,
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    draws: int = 4000,
    seed: int = 0,
) -> Recommendation:
    """Compare the current tier with every other tier for one class.

    The switch with the highest median saving wins; failing that, explore toward the tier with the
    highest P(cheaper) (withheld costs rank last; ties by tier name); failing that, keep, reported
    against the most competitive alternative. With no other tier the answer is "keep".
    """
    classes = {c.task_class for c in cells_for_class}
    if len(classes) > 1:
        raise ValueError(f"cells span several classes: {sorted(classes)}")
    tiers = [c.tier for c in cells_for_class]
    if len(set(tiers)) != len(tiers):
        raise ValueError(f"duplicate tiers: {tiers}")
    current = next((c for c in cells_for_class if c.tier == current_tier), None)
    if current is None:
        raise ValueError(f"no cell for the current tier {current_tier!r}")
    others = sorted((c for c in cells_for_class if c.tier != current_tier), key=lambda c: c.tier)
    if not others:
        return Recommendation(
            action="keep",
            from_tier=current_tier,
            to_tier=current_tier,
            p_cheaper=None,
            p_quality=None,
            expected_saving_per_task=None,
            reason=f"keep: no other tier has data for {current.task_class!r}",
        )
    drawn_current = _draw_cell(current, draws, seed)  # once, shared by every comparison
    resampled = _resampled(current, rule, draws, seed)  # likewise
    recs = [
        _compare(current, other, drawn_current, _draw_cell(other, draws, seed), rule,
                 _interval(resampled, other, rule, draws, seed))
        for other in others
    ]  # fmt: skip

    def by_cheaper(r: Recommendation) -> float:
        return -1.0 if r.p_cheaper is None else r.p_cheaper

    switches = [r for r in recs if r.action == "switch"]
    if switches:
        return max(switches, key=lambda r: r.expected_saving_per_task or 0.0)
    explores = [r for r in recs if r.action == "explore"]
    if explores:
        return max(explores, key=by_cheaper)
    return max(recs, key=by_cheaper)
