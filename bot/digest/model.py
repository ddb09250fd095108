"""What a weekly yield digest says, independent of where it is sent.

``bot.digest.compose`` builds a ``Digest`` from the ledger; each channel (``bot.channels``) renders
the same ``Digest`` within its own limits. Every figure carries its denominator and coverage, and
every recommendation its statistical standing: a digest never shows a bare number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bot.engine.scorecard import Estimate


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval [start, end) in UTC; ``label`` is the ISO week, e.g. "2026-W47"."""

    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True, slots=True)
class Figure:
    """One scorecard line: this period against the previous one.

    ``unit`` is "share" (0..1), "usd" or "count". ``denominator`` says what the figure is out
    of ("34 shipped tasks"); ``coverage`` is the share of tokens priced (None if not relevant).
    """

    name: str
    value: float | Decimal | None
    previous: float | Decimal | None
    unit: str
    denominator: str
    coverage: float | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """One (tier, task class) cell of the matrix."""

    tier: str
    task_class: str
    tasks: int
    shipped_tasks: int
    first_pass_yield: float | None
    interval: tuple[float, float] | None
    token_yield: float | None
    cost_per_shipped_task: Decimal | None


@dataclass(frozen=True, slots=True)
class AttentionItem:
    """A pull request or task worth a look: costly and reworked, bounced or abandoned."""

    repository: str
    title: str
    url: str | None
    usd: Decimal
    reason: str  # e.g. "3 bounces, 2 rework commits", "abandoned"


@dataclass(frozen=True, slots=True)
class Misroute:
    """A cheap attempt that escalated, and the spend it burned."""

    repository: str
    task: str
    url: str | None
    from_tier: str
    to_tier: str
    usd_burned: Decimal


@dataclass(frozen=True, slots=True)
class Advice:
    """A routing recommendation with its standing: switch, keep or explore."""

    task_class: str
    action: str
    from_tier: str
    to_tier: str
    text: str  # one sentence with the interval, e.g. "saves $0.31 per shipped task (90%: ...)"
    p_cheaper: float | None = None
    saving: float | None = None
    saving_interval: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class TrendPoint:
    week: str  # ISO week label
    token_yield: float | None
    spend_usd: Decimal


@dataclass(frozen=True, slots=True)
class Thin:
    """A cell the routing scorecard needs but lacks, and what would settle it: never a number."""

    task_class: str
    tier: str
    tasks: int
    settle: str  # the engine's sentence (``bot.engine.scorecard.Thin.sentence``)


@dataclass(frozen=True, slots=True)
class RoutingScorecard:
    """Does routing pay (docs/metrics.md): the routing scorecard of the tasks finished in the
    trend's weeks, ``since`` (an ISO week) to the period's end, against ``reference``.

    One week rarely holds the 30 tasks a cell needs for an interval, so the scorecard reads
    the trend's weeks. Savings are shares of the reference's cost; ``shipped_points`` is the
    routed shipped rate minus the reference's; ``leak_by`` splits ``leak`` over where it went.
    Figures are None where ``thin`` leaves nothing to weigh.
    """

    sentence: str  # the engine's (``bot.engine.scorecard.Scorecard.sentence``)
    reference: str
    since: str
    tasks: int
    covered_tasks: int
    invoice_saving: float | None
    realised_saving: Estimate | None
    shipped_points: Estimate | None
    leak: float | None
    leak_by: tuple[tuple[str, float], ...]
    thin: tuple[Thin, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    installation_id: int
    account: str
    period: Period
    headline: str
    scorecard: tuple[Figure, ...]
    matrix: tuple[Cell, ...]
    attention: tuple[AttentionItem, ...]
    misroutes: tuple[Misroute, ...]
    advice: tuple[Advice, ...]
    trend: tuple[TrendPoint, ...]  # oldest first, up to 12 weeks
    repositories: tuple[str, ...] = ()
    dashboard_url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # coverage caveats, config errors
    routing: RoutingScorecard | None = None  # None: no routed task finished in the trend's weeks
