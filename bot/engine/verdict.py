"""The PR cost comment's verdict: did this pull request's routing pay? (docs/comment.md)

It rests on two counterfactuals, each labelled where it is shown:

* **this pull request's own**: after an escalation, the attempts up to the last escalation were
  superseded; going straight to the shipping tier would have cost what that tier's attempts
  cost here. Observed, so it needs no history.
* **history's**: the expected cost per shipped task of the task class on each tier, with its
  90% interval, from the cells the scorecard and the policy draw (``draw_cells``). A tier is
  shown from ``Rule.min_tasks`` finished tasks; it weighs in a verdict only once ``thin`` says
  its interval holds its level (``Rule.interval_tasks``), as in the scorecard.

The kinds: ``MISROUTED`` (an escalation superseded attempts, or history says another tier was
clearly cheaper), ``PAID`` (history says every other tier was clearly dearer, or the cheapest
tier shipped it first time), ``TOO_EARLY`` (open, mostly unpriced, history too thin or within
an interval), ``ABANDONED`` and ``REVERTED``. Pure: no I/O; ``bot.render.comment`` words it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from bot.engine.attribution import ABANDONED as ABANDONED_STATUS
from bot.engine.attribution import OPEN, REVERTED_SPEND, Task
from bot.engine.report import Outcome, task_cost
from bot.engine.scorecard import DRAWS, Cell, Estimate, Thin, draw_cells, thin
from bot.stats.rule import Rule

MISROUTED = "misrouted"
PAID = "paid"
TOO_EARLY = "too-early"
ABANDONED = "abandoned"
REVERTED = "reverted"
REPOSITORY, INSTALLATION = "repository", "installation"


@dataclass(frozen=True)
class Own:
    """This pull request's own counterfactual: ``superseded`` attempts (up to the last
    escalation) on ``first_tier``, their priced dollars and unpriced tokens, then the same of
    the ``last_tier``'s attempts."""

    first_tier: str | None
    last_tier: str | None
    superseded: int
    superseded_usd: Decimal
    superseded_unpriced: float
    last: int
    last_usd: Decimal
    last_unpriced: float

    @property
    def extra(self) -> float | None:
        """What starting low added, as a share of going straight to the last tier; None when
        either side has unpriced tokens (a share of a lower bound would mislead)."""
        if self.superseded_unpriced or self.last_unpriced or not self.last_usd:
            return None
        return float(self.superseded_usd / self.last_usd)


@dataclass(frozen=True)
class Expected:
    """History's expected cost per shipped task on one tier (None: withheld, under half its
    tasks priced); ``settled``: enough tasks for its interval to weigh in a verdict."""

    tier: str
    tasks: int
    shipped: int
    cost: Estimate | None
    settled: bool


@dataclass(frozen=True)
class History:
    """The cells of history's counterfactual and where they come from (``REPOSITORY`` or
    ``INSTALLATION``)."""

    cells: Mapping[tuple[str, str], Cell]
    scope: str = REPOSITORY


@dataclass(frozen=True)
class Verdict:
    """One task's verdict: ``against`` is the history figure it weighs (None: none did),
    ``thin`` what would settle history when it was too thin to weigh."""

    kind: str
    task_class: str
    tier: str | None  # the tier of the last attempt
    cost: Decimal | None  # the task's dollars; None when mostly unpriced (``task_cost``)
    attempts: int
    first_time: bool
    cheapest: bool  # the last tier is the cheapest there is
    own: Own
    expected: tuple[Expected, ...]
    against: Expected | None = None
    thin: tuple[Thin, ...] = ()


def history_of(
    outcomes: Iterable[Outcome],
    task_classes: Collection[str],
    scope: str = REPOSITORY,
    *,
    draws: int = DRAWS,
) -> History:
    """History's cells for the classes of a pull request's tasks: the scorecard's draws
    (``draw_cells``), seed 0."""
    kept = [o for o in outcomes if o.task_class in task_classes]
    return History(draw_cells(kept, draws), scope)


def too_little(history: History, task_class: str, rule: Rule = Rule()) -> bool:  # noqa: B008
    """Fewer than two tiers with ``rule.min_tasks`` finished tasks of the class: nothing to
    compare, so the comment looks at the whole installation instead."""
    tiers = [c for (k, _), c in history.cells.items() if k == task_class and c.n >= rule.min_tasks]
    return len(tiers) < 2


def verdict(
    task: Task,
    history: History,
    tiers: Sequence[str],
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
) -> Verdict:
    """The verdict on ``task``; ``tiers`` are the tier names, cheapest first."""
    own = _own(task)
    expected = _expected(history.cells, task.task_class, tiers, rule)
    tier = task.attempts[-1].tier if task.attempts else task.tier
    spends = task.spend.values()
    cost = task_cost(sum(s.tokens for s in spends), sum(s.unpriced_tokens for s in spends),
                     sum((s.usd for s in spends), Decimal(0)))  # fmt: skip
    base = Verdict(TOO_EARLY, task.task_class, tier, cost, len(task.attempts), task.first_pass,
                   bool(tiers) and tier == tiers[0], own, expected)  # fmt: skip
    if task.status == OPEN:
        return base
    if task.status in (ABANDONED_STATUS, REVERTED_SPEND):
        kind = ABANDONED if task.status == ABANDONED_STATUS else REVERTED
        return replace(base, kind=kind)
    if own.superseded:
        shipping = next((e for e in expected if e.tier == tier), None)
        return replace(base, kind=MISROUTED, against=shipping)
    return _against_history(base, history, tiers, rule)


def _against_history(base: Verdict, history: History, tiers: Sequence[str], rule: Rule) -> Verdict:
    """A task shipped on its first tier: weigh its cost against the other tiers' settled
    expected costs; with none, the cheapest tier shipping it first time is enough."""
    others = [e for e in base.expected if e.tier != base.tier and e.settled and e.cost]
    cost = None if base.cost is None else float(base.cost)
    if cost is None:
        return base
    dearer = [e for e in others if cost > e.cost.high]
    if dearer:
        return replace(base, kind=MISROUTED, against=min(dearer, key=lambda e: e.cost.median))
    if others:
        paid = all(cost < e.cost.low for e in others)
        best = min(others, key=lambda e: e.cost.median)
        return replace(base, kind=PAID if paid else TOO_EARLY, against=best)
    if base.first_time and base.cheapest:
        return replace(base, kind=PAID)
    lacking = (thin(base.task_class, t, history.cells, rule) for t in tiers if t != base.tier)
    return replace(base, thin=tuple(t for t in lacking if t))


def _own(task: Task) -> Own:
    """Attempts up to the last escalation against the rest (all of them without one)."""
    attempts = task.attempts
    last = max((i for i, a in enumerate(attempts) if a.outcome == "escalated"), default=-1)
    before, after = attempts[: last + 1], attempts[last + 1 :]
    return Own(
        first_tier=attempts[0].tier if attempts else task.tier,
        last_tier=after[0].tier if after else None,
        superseded=len(before),
        superseded_usd=sum((a.usd for a in before), Decimal(0)),
        superseded_unpriced=sum(a.unpriced_tokens for a in before),
        last=len(after),
        last_usd=sum((a.usd for a in after), Decimal(0)),
        last_unpriced=sum(a.unpriced_tokens for a in after),
    )


def _expected(
    cells: Mapping[tuple[str, str], Cell], task_class: str, tiers: Sequence[str], rule: Rule
) -> tuple[Expected, ...]:
    """Each tier with ``rule.min_tasks`` finished tasks of the class, cheapest tier first."""
    rows = []
    for tier in tiers:
        cell = cells.get((task_class, tier))
        if cell is None or cell.n < rule.min_tasks:
            continue
        cost = None if cell.cost is None else Estimate.of(cell.cost / cell.shipped)
        settled = thin(task_class, tier, cells, rule) is None
        rows.append(Expected(tier, cell.n, cell.k, cost, settled))
    return tuple(rows)
