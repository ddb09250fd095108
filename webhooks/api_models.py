"""The bodies of the JSON API (docs/api.md), as Pydantic models.

The responses are built from these models and the OpenAPI document's schemas are generated from
them (``webhooks.api.openapi``), so the document cannot drift from what is served. The
``from_*`` builders only reshape what ``bot.app.explore`` computed; they compute no figure.

Money is a decimal string with 8 places ("0.12345678"), never a float: a float would round the
ledger's exact Decimal sums. A share is a number from 0 to 1, or null when it cannot be computed
(no tasks, unpriced spend), never 0 in its place. Timestamps are ISO 8601 in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from bot.app import explore
from bot.channels.content import clean
from bot.digest.compose import DatedTask
from bot.digest.model import Advice, Cell
from bot.engine.attribution import Attempt, Spend, Task
from bot.engine.curve import Curve, Strategy
from bot.engine.scorecard import MOST_EXPENSIVE, MOST_USED, Estimate, Scorecard, Thin
from bot.engine.sweep import Sweep
from bot.engine.yields import GroupMetrics
from bot.stats.posterior import INTERVAL, Rate, rate

CENT_FRACTION = Decimal("0.00000001")
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
MAX_PAGE = 10**6  # a page number past this is refused: (page - 1) * per_page must fit SQL's OFFSET
# The years a date or week parameter may name: the calendar's own edges (years 1 and 9999) would
# overflow the date arithmetic of a window or of an inclusive ``until``.
FIRST_YEAR, LAST_YEAR = 1000, 2999
FIRST_DATE, LAST_DATE = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)
MAX_PR_NUMBER = 2**31 - 1  # the ledger's pull request numbers are SQL INTEGERs
MAX_INSTALLATION_ID = 2**63 - 1  # and its installation ids BIGINTs
WEEK_PATTERN = r"^[12][0-9]{3}-W(0[1-9]|[1-4][0-9]|5[0-3])$"
TEXT_PATTERN = r"^[^\x00]*$"  # no NUL: never meaningful, and PostgreSQL refuses it in text
SHOWN = 200  # characters of one untrusted value (a title, a trailer's) shown in a list or page


def short(value: object) -> str:
    """An untrusted value (a title, a trailer's) as one line of at most SHOWN characters, cut
    with an ellipsis: a 1 MB trailer must not make every page listing it 1 MB. None is ""."""
    return "" if value is None else clean(value, SHOWN)


def money_text(value: Decimal) -> str:
    """Dollars as a decimal string with 8 places (half-even), e.g. "0.12345678"."""
    return format(value.quantize(CENT_FRACTION, rounding=ROUND_HALF_EVEN), "f")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Money = Annotated[
    Decimal,
    PlainSerializer(money_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+\.[0-9]{8}$",
            "examples": ["0.12345678"],
            "description": "US dollars, a decimal string with 8 places",
        }
    ),
]
Share = Annotated[float, Field(ge=0, le=1)]
Instant = Annotated[datetime, AfterValidator(_utc)]
# An ISO week of the years FIRST_YEAR to LAST_YEAR, as a parameter; a window of weeks ending with
# it may start a little earlier (``WeekLabel``, in answers).
Week = Annotated[str, Field(pattern=WEEK_PATTERN, examples=["2026-W46"])]
WeekLabel = Annotated[str, Field(examples=["2026-W46"])]
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
# A date of those years (a pattern says so in the OpenAPI document: JSON Schema has no date range).
Day = Annotated[
    date,
    Field(ge=FIRST_DATE, le=LAST_DATE),
    WithJsonSchema(
        {"type": "string", "format": "date", "pattern": r"^[12][0-9]{3}-[0-9]{2}-[0-9]{2}$"}
    ),
]


def bounded_window(
    dataset: explore.Dataset, to: str | None, weeks: int, now: datetime
) -> explore.Window:
    """``explore.window``, or ValueError (the reason, for a 400) when ``to`` is not a week of the
    years FIRST_YEAR to LAST_YEAR (the calendar's edges would overflow) or does not exist."""
    if to is not None and not re.fullmatch(WEEK_PATTERN, to):
        raise ValueError(
            f"must be an ISO week like 2026-W47 of the years {FIRST_YEAR} to {LAST_YEAR}, "
            f"not {clean(to, 40)!r}"
        )
    return explore.window(dataset, to, weeks, now)


# --------------------------------------------------------------------------- query parameters


class Query(BaseModel):
    """Query parameters: unknown ones are refused (a misspelt filter must not be ignored)."""

    model_config = ConfigDict(extra="forbid")


class Paging(Query):
    page: int = Field(1, ge=1, le=MAX_PAGE, description=f"Page number, 1 to {MAX_PAGE}.")
    per_page: int = Field(
        DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Items per page, 1 to 100."
    )


class AsOf(Query):
    to: Week | None = Field(
        None,
        description="The last ISO week (YYYY-Www); by default the latest week a task finished in.",
    )


class WindowQuery(AsOf):
    weeks: int = Field(
        explore.DEFAULT_WEEKS, ge=1, le=explore.MAX_WEEKS, description="Weeks in the window."
    )


class RepositoryQuery(WindowQuery, Paging):
    pass


class Filters(Query):
    """``bot.app.explore.TaskFilter``: each given parameter narrows the list."""

    repository: Text | None = Field(None, description="owner/name")
    tier: Text | None = Field(None, description='A tier; "unknown" for tasks without one.')
    task_class: Text | None = None
    agent: Text | None = Field(None, description='An agent; "unknown" for unrecognised ones.')
    model: Text | None = Field(None, description='A model; "unknown" for unrecognised ones.')
    outcome: Literal[explore.OUTCOMES] | None = None  # type: ignore[valid-type]
    since: Day | None = Field(
        None,
        description="First UTC date (inclusive) a task finished, or a pull request opened "
        f"({FIRST_DATE} to {LAST_DATE}).",
    )
    until: Day | None = Field(
        None,
        description="Last UTC date (inclusive) a task finished, or a pull request opened "
        f"({FIRST_DATE} to {LAST_DATE}).",
    )

    def task_filter(self) -> explore.TaskFilter:
        return explore.TaskFilter(**self.model_dump(include=set(Filters.model_fields)))


class PagedFilters(Filters, Paging):
    pass


# --------------------------------------------------------------------------- shared parts


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong: which parameter and why, or what is missing.")


class Interval(BaseModel):
    low: float
    high: float
    confidence: float


class RateOut(BaseModel):
    """k out of n, its value (null when n is 0) and Wilson interval (null when n is 0)."""

    value: Share | None
    interval: Interval | None
    k: int
    n: int

    @classmethod
    def of(cls, r: Rate) -> RateOut:
        interval = Interval(low=r.low, high=r.high, confidence=r.conf) if r.n else None
        return cls(value=r.value, interval=interval, k=r.k, n=r.n)


class Bucket(BaseModel):
    """One waterfall bucket: shipped, rework, misroute, abandoned, reverted or open."""

    bucket: str
    tokens: float
    spend_usd: Money
    unpriced_tokens: float

    @classmethod
    def all_of(cls, spend: dict[str, Spend]) -> list[Bucket]:
        return [cls(bucket=b, tokens=s.tokens, spend_usd=s.usd, unpriced_tokens=s.unpriced_tokens)
                for b, s in spend.items()]  # fmt: skip


class Figures(BaseModel):
    """``bot.engine.yields.GroupMetrics`` of a group of tasks (docs/metrics.md)."""

    tasks: int
    shipped_tasks: int
    tokens: float
    tokens_shipped: float
    spend_usd: Money = Field(description="Priced spend only; see price_coverage.")
    shipped_usd: Money
    token_yield: Share | None
    cost_yield: Share | None
    first_pass_yield: RateOut
    cost_per_shipped_task: Money | None
    price_coverage: Share = Field(description="Share of the tokens that are priced.")
    bounce_rate: RateOut
    escalation_rate: RateOut
    agent_rework_commits: int
    human_rework_commits: int

    @staticmethod
    def values(m: GroupMetrics) -> dict:
        """The fields' values, for the models that add their own fields to these."""
        return {
            "tasks": m.tasks, "shipped_tasks": m.shipped_tasks, "tokens": m.tokens_total,
            "tokens_shipped": m.tokens_shipped, "spend_usd": m.usd_total,
            "shipped_usd": m.usd_shipped, "token_yield": m.token_yield,
            "cost_yield": m.cost_yield, "first_pass_yield": RateOut.of(m.first_pass),
            "cost_per_shipped_task": m.cost_per_shipped_task,
            "price_coverage": m.price_coverage, "bounce_rate": RateOut.of(m.bounce_rate),
            "escalation_rate": RateOut.of(m.escalation_rate),
            "agent_rework_commits": m.agent_rework_commits,
            "human_rework_commits": m.human_rework_commits,
        }  # fmt: skip


class WindowFigures(Figures):
    waterfall: list[Bucket] = Field(description="Where the tokens and dollars went.")

    @staticmethod
    def values(m: GroupMetrics) -> dict:
        return {**Figures.values(m), "waterfall": Bucket.all_of(m.waterfall)}


class WindowOut(BaseModel):
    """ISO weeks; a task counts in the week it finished in. ``end`` is exclusive."""

    first_week: WeekLabel
    last_week: WeekLabel
    weeks: int
    start: Instant
    end: Instant
    latest: bool = Field(description="The window ends with the latest week a task finished in.")

    @classmethod
    def of(cls, w: explore.Window) -> WindowOut:
        return cls(first_week=w.weeks[0].label, last_week=w.weeks[-1].label, weeks=len(w.weeks),
                   start=w.start, end=w.end, latest=w.latest)  # fmt: skip


class PageOf(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int

    @staticmethod
    def values(p: explore.Page) -> dict:
        return {"page": p.page, "per_page": p.per_page, "total": p.total, "pages": p.pages}


# --------------------------------------------------------------------------- installations


class Installation(BaseModel):
    id: int
    account: str
    state: str
    repositories: int


class InstallationPage(PageOf):
    items: list[Installation]


# --------------------------------------------------------------------------- summary, matrix


class _Week(BaseModel):
    week: WeekLabel


class WeekFigures(WindowFigures, _Week):
    pass


class Summary(BaseModel):
    installation_id: int
    account: str
    window: WindowOut
    figures: WindowFigures
    open_tasks: int = Field(description="Tasks still open: they count when they finish.")
    trend: list[WeekFigures] = Field(description="One entry per week of the window, oldest first.")

    @classmethod
    def of(cls, dataset: explore.Dataset, o: explore.Overview) -> Summary:
        trend = [WeekFigures(week=w.label, **WindowFigures.values(w.metrics)) for w in o.trend]
        figures = WindowFigures(**WindowFigures.values(o.metrics))
        return cls(installation_id=dataset.installation_id, account=dataset.account,
                   window=WindowOut.of(o.window), figures=figures, open_tasks=o.open_tasks,
                   trend=trend)  # fmt: skip


class CellOut(BaseModel):
    """One (tier, task class) cell of the matrix."""

    tier: str
    task_class: str
    tasks: int
    shipped_tasks: int
    first_pass_yield: Share | None
    first_pass_interval: Interval | None
    token_yield: Share | None
    cost_per_shipped_task: Money | None

    @classmethod
    def of(cls, c: Cell, confidence: float) -> CellOut:
        interval = None if c.interval is None else Interval(
            low=c.interval[0], high=c.interval[1], confidence=confidence
        )  # fmt: skip
        return cls(tier=c.tier, task_class=c.task_class, tasks=c.tasks,
                   shipped_tasks=c.shipped_tasks, first_pass_yield=c.first_pass_yield,
                   first_pass_interval=interval, token_yield=c.token_yield,
                   cost_per_shipped_task=c.cost_per_shipped_task)  # fmt: skip


class MatrixOut(BaseModel):
    installation_id: int
    window: WindowOut
    tiers: list[str] = Field(description="Cheapest first when the tiers have the usual names.")
    task_classes: list[str]
    cells: list[CellOut]

    @classmethod
    def of(cls, dataset: explore.Dataset, m: explore.Matrix) -> MatrixOut:
        confidence = rate(0, 0).conf  # the cells' intervals are at rate()'s default level
        return cls(installation_id=dataset.installation_id, window=WindowOut.of(m.window),
                   tiers=list(m.tiers), task_classes=list(m.classes),
                   cells=[CellOut.of(c, confidence) for c in m.cells])  # fmt: skip


class MoneyInterval(BaseModel):
    low: Money
    high: Money
    confidence: float


class AdviceOut(BaseModel):
    """A routing recommendation for one task class, with its standing (docs/statistics.md)."""

    task_class: str
    action: str = Field(description="switch, keep or explore")
    from_tier: str
    to_tier: str
    text: str
    p_cheaper: Share | None = Field(description="P(to_tier saves >= 5% per shipped task).")
    saving_per_shipped_task: Money | None = Field(
        description="Expected dollars saved per shipped task by to_tier (negative: it costs more)."
    )
    saving_interval: MoneyInterval | None

    @classmethod
    def of(cls, a: Advice) -> AdviceOut:
        interval = None if a.saving_interval is None else MoneyInterval(
            low=_dollars(a.saving_interval[0]), high=_dollars(a.saving_interval[1]),
            confidence=INTERVAL,
        )  # fmt: skip
        saving = None if a.saving is None else _dollars(a.saving)
        return cls(task_class=a.task_class, action=a.action, from_tier=a.from_tier,
                   to_tier=a.to_tier, text=a.text, p_cheaper=a.p_cheaper,
                   saving_per_shipped_task=saving, saving_interval=interval)  # fmt: skip


def _dollars(estimate: float) -> Decimal:
    """A float estimate as money (its shortest repr, so 0.31 stays 0.31000000)."""
    return Decimal(repr(estimate))


class Recommendations(BaseModel):
    installation_id: int
    window: WindowOut = Field(description="The advice uses every task finished before its end.")
    items: list[AdviceOut]


# --------------------------------------------------------------------------- repositories


class _Repository(BaseModel):
    repository: str


class RepositoryOut(Figures, _Repository):
    @classmethod
    def of(cls, name: str, m: GroupMetrics) -> RepositoryOut:
        return cls(repository=name, **Figures.values(m))


class RepositoryPage(PageOf):
    window: WindowOut
    items: list[RepositoryOut]


# --------------------------------------------------------------------------- tasks


class TaskOut(BaseModel):
    """An agent task (docs/metrics.md); ``key`` names it in /tasks/{owner}/{repo}/{key}."""

    repository: str
    key: str
    id: str
    title: str
    task_class: str
    class_inferred: bool
    tier: str = Field(description='The tier first routed to; "unknown" when none was recorded.')
    agent: str
    model: str
    strategy: str | None
    complexity: str
    outcome: str = Field(description="shipped, reverted, abandoned or open")
    finished_at: Instant | None = Field(description="When it merged or closed; null while open.")
    pr_numbers: list[int]
    url: str | None
    first_pass: bool
    escalated: bool
    bounces: list[str]
    attempts: int
    tokens: float
    spend_usd: Money
    unpriced_tokens: float
    agent_rework_commits: int
    human_rework_commits: int

    @classmethod
    def of(cls, d: DatedTask, url: str | None) -> TaskOut:
        t = d.task
        tokens, usd, unpriced = explore.spend_of(t)
        return cls(repository=t.repository, key=task_key(t), id=t.id, title=d.title,
                   task_class=t.task_class, class_inferred=t.class_inferred,
                   tier=t.tier or "unknown", agent=t.agent or "unknown",
                   model=t.model or "unknown", strategy=t.strategy, complexity=t.complexity,
                   outcome=t.status, finished_at=d.finished_at, pr_numbers=list(t.pr_numbers),
                   url=url, first_pass=t.first_pass, escalated=t.escalated,
                   bounces=list(t.bounces), attempts=len(t.attempts), tokens=tokens,
                   spend_usd=usd, unpriced_tokens=unpriced,
                   agent_rework_commits=t.agent_rework_commits,
                   human_rework_commits=t.human_rework_commits)  # fmt: skip


def task_key(task: Task) -> str:
    """The task's id without its repository ("pr:12", "task:ROUTE-4711", "branch:fix/x")."""
    return task.id.removeprefix(f"{task.repository}:")


class TaskPage(PageOf):
    items: list[TaskOut]


class AttemptOut(BaseModel):
    number: int
    tier: str | None
    model: str | None
    outcome: str = Field(description="shipped, escalated, bounced, abandoned, reverted or open")
    commits: list[str]
    bounces: list[str]
    tokens: int
    spend_usd: Money
    unpriced_tokens: int

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(number=a.number, tier=a.tier, model=a.model, outcome=a.outcome,
                   commits=list(a.commits), bounces=list(a.bounces), tokens=a.tokens,
                   spend_usd=a.usd, unpriced_tokens=a.unpriced_tokens)  # fmt: skip


class TaskDetail(BaseModel):
    task: TaskOut
    attempts: list[AttemptOut]
    spend: list[Bucket] = Field(description="The task's tokens and dollars by waterfall bucket.")

    @classmethod
    def of(cls, d: DatedTask, url: str | None) -> TaskDetail:
        return cls(task=TaskOut.of(d, url), attempts=[AttemptOut.of(a) for a in d.task.attempts],
                   spend=Bucket.all_of(d.task.spend))  # fmt: skip


# --------------------------------------------------------------------------- pull requests


class _Pull(BaseModel):
    repository: str
    number: int
    title: str
    state: str = Field(description="open, merged or closed")
    created_at: Instant | None
    closed_at: Instant | None
    url: str | None
    outcome: str = Field(description="The worst outcome of its tasks.")
    tiers: list[str]
    task_classes: list[str]
    agents: list[str]
    models: list[str]


class PullOut(Figures, _Pull):
    """A pull request and the figures of the agent tasks it carries (a task spanning several
    pull requests counts in each)."""

    @classmethod
    def of(cls, row: explore.PullRow, url: str | None) -> PullOut:
        p = row.pull
        return cls(repository=p.repository, number=p.number, title=p.title, state=p.state,
                   created_at=p.created_at, closed_at=p.closed_at, url=url,
                   outcome=row.outcome, tiers=list(row.values(lambda t: t.tier)),
                   task_classes=list(row.values(lambda t: t.task_class)),
                   agents=list(row.values(lambda t: t.agent)),
                   models=list(row.values(lambda t: t.model)),
                   **Figures.values(row.metrics))  # fmt: skip


class PullPage(PageOf):
    items: list[PullOut]


class PullDetail(BaseModel):
    pull: PullOut
    tasks: list[TaskDetail]


# --------------------------------------------------------------------------- routing


class RoutingQuery(Query):
    """The tasks a scorecard or a policy reads: finished ones, of a repository, between dates."""

    repository: Text | None = Field(None, description="owner/name; by default every repository.")
    since: Day | None = Field(
        None,
        description=f"First UTC date (inclusive) a task finished ({FIRST_DATE} to {LAST_DATE}).",
    )
    until: Day | None = Field(
        None,
        description=f"Last UTC date (inclusive) a task finished ({FIRST_DATE} to {LAST_DATE}).",
    )

    def task_filter(self) -> explore.TaskFilter:
        return explore.TaskFilter(repository=self.repository, since=self.since, until=self.until)


class ScorecardQuery(RoutingQuery):
    reference: Text = Field(
        MOST_EXPENSIVE,
        description=f'The reference policy: "{MOST_EXPENSIVE}" (every task on the tier with the '
        f'highest dollars per token), "{MOST_USED}" (on the tier that ran the most tasks) or a '
        "tier (one no task ran on makes every class too thin, and says so).",
    )


class EstimateOut(BaseModel):
    """A posterior median with its equal-tailed interval."""

    median: float
    low: float
    high: float
    confidence: float = INTERVAL

    @classmethod
    def of(cls, e: Estimate | None) -> EstimateOut | None:
        return None if e is None else cls(median=e.median, low=e.low, high=e.high)


class MoneyEstimate(BaseModel):
    """Dollars: a posterior median with its equal-tailed interval."""

    median: Money
    low: Money
    high: Money
    confidence: float = INTERVAL

    @classmethod
    def of(cls, e: Estimate | None) -> MoneyEstimate | None:
        if e is None:
            return None
        return cls(median=_dollars(e.median), low=_dollars(e.low), high=_dollars(e.high))


class ThinOut(BaseModel):
    """A cell too thin for a figure, and what would settle it."""

    task_class: str
    tier: str
    tasks: int
    more_tasks: int = Field(description="Tasks the cell still needs.")
    explore_share: Share = Field(description="The share of the class to send to the tier...")
    class_tasks: int = Field(description="...for about this many more tasks of the class.")
    why: str
    sentence: str

    @classmethod
    def of(cls, t: Thin) -> ThinOut:
        return cls(task_class=t.task_class, tier=t.tier, tasks=t.n, more_tasks=t.more,
                   explore_share=t.explore_share, class_tasks=t.class_tasks, why=t.why,
                   sentence=t.sentence())  # fmt: skip


class CellSavingOut(BaseModel):
    """One routed (tier, class) cell against the reference tier on the same class."""

    tier: str
    task_class: str
    tasks: int
    invoice_saving: float | None
    realised_saving: EstimateOut
    leak: float | None


class ScorecardFigures(BaseModel):
    """``bot.engine.scorecard.Scorecard`` (docs/metrics.md, "The routing scorecard"): savings
    are shares of the reference's cost (negative: routing cost more); null where too thin."""

    sentence: str = Field(description="The headline, or what would settle it.")
    reference: str = Field(description="The reference tier.")
    tasks: int
    covered_tasks: int = Field(description="Tasks of the classes with enough data.")
    classes: list[str] = Field(description="The classes the figures cover.")
    invoice_saving: float | None
    realised_saving: EstimateOut | None = Field(description="Per shipped task.")
    shipped_points: EstimateOut | None = Field(description="Routed minus reference shipped rate.")
    leak: float | None = Field(description="invoice_saving - realised_saving (median).")
    leak_by: dict[str, float] = Field(description="The leak over mis-route, rework, ...")
    cells: list[CellSavingOut]
    thin: list[ThinOut]

    @classmethod
    def of(cls, s: Scorecard) -> ScorecardFigures:
        cells = [CellSavingOut(tier=c.tier, task_class=c.task_class, tasks=c.tasks,
                               invoice_saving=c.invoice_saving,
                               realised_saving=EstimateOut.of(c.realised_saving), leak=c.leak)
                 for c in s.cells]  # fmt: skip
        return cls(sentence=s.sentence(), reference=s.reference, tasks=s.tasks,
                   covered_tasks=s.covered_tasks, classes=list(s.classes),
                   invoice_saving=s.invoice_saving,
                   realised_saving=EstimateOut.of(s.realised_saving),
                   shipped_points=EstimateOut.of(s.shipped_points), leak=s.leak,
                   leak_by=dict(s.leak_by), cells=cells,
                   thin=[ThinOut.of(t) for t in s.thin])  # fmt: skip


class VertexOut(BaseModel):
    """A policy on the curve: ``moved`` classes on the frontier tier (posterior medians)."""

    moved: list[str]
    frontier_share: float
    pgr: float
    shipped: float
    cost_per_task: Money


class CurveOut(BaseModel):
    """``bot.engine.curve.Curve`` (docs/metrics.md, "The routing-efficiency curve")."""

    sentence: str
    cheap: str
    frontier: str
    classes: list[str]
    vertices: list[VertexOut]
    gap: EstimateOut | None = Field(description="All-frontier minus all-cheap shipped rate.")
    current_share: EstimateOut | None = Field(description="Frontier-dollar share now.")
    current_pgr: EstimateOut | None
    apgr: EstimateOut | None
    cpt50: EstimateOut | None
    cpt80: EstimateOut | None
    below: EstimateOut | None = Field(description="The curve's PGR minus the current PGR.")
    below_points: EstimateOut | None = Field(description="The same in shipped-rate points.")
    thin: list[ThinOut]

    @classmethod
    def of(cls, c: Curve) -> CurveOut:
        vertices = [VertexOut(moved=list(v.moved), frontier_share=v.frontier_share, pgr=v.pgr,
                              shipped=v.shipped, cost_per_task=_dollars(v.cost_per_task))
                    for v in c.vertices]  # fmt: skip
        e = EstimateOut.of
        return cls(sentence=c.sentence(), cheap=c.cheap, frontier=c.frontier,
                   classes=list(c.classes), vertices=vertices, gap=e(c.gap),
                   current_share=e(c.current_share), current_pgr=e(c.current_pgr),
                   apgr=e(c.apgr), cpt50=e(c.cpt50), cpt80=e(c.cpt80), below=e(c.below),
                   below_points=e(c.below_points),
                   thin=[ThinOut.of(t) for t in c.thin])  # fmt: skip


class StrategyOut(BaseModel):
    """Routing against cascading: one ``Agent-Route: strategy=`` (null: not stated)."""

    strategy: str | None
    tasks: int
    shipped: RateOut
    escalated: RateOut
    cost_per_shipped_task: MoneyEstimate | None
    late_escalation_cost: MoneyEstimate | None = Field(
        description="Mean cost of escalated tasks that failed CI or review first."
    )
    immediate_escalation_cost: MoneyEstimate | None = Field(
        description="Mean cost of escalated tasks that escalated at once."
    )
    late_tasks: int
    immediate_tasks: int
    median_hours_to_merge: float | None = Field(
        description="From the first attempt's first commit to the merge; null: none merged."
    )
    merged_tasks: int = Field(description="The merged tasks whose time to merge is known.")

    @classmethod
    def of(cls, s: Strategy) -> StrategyOut:
        return cls(strategy=s.strategy, tasks=s.tasks, shipped=RateOut.of(s.shipped),
                   escalated=RateOut.of(s.escalated),
                   cost_per_shipped_task=MoneyEstimate.of(s.cost_per_shipped),
                   late_escalation_cost=MoneyEstimate.of(s.late),
                   immediate_escalation_cost=MoneyEstimate.of(s.immediate),
                   late_tasks=s.late_tasks, immediate_tasks=s.immediate_tasks,
                   median_hours_to_merge=s.merge_hours, merged_tasks=s.merged_tasks)  # fmt: skip


class ThresholdOut(BaseModel):
    """One threshold of the sweep: tasks scoring at least ``score`` go to the stronger tier
    (null: above every score); posterior medians."""

    score: float | None
    share: float = Field(description="Share of the scored tasks sent to the stronger tier.")
    shipped: float = Field(description="Expected shipped rate.")
    pgr: float


class SweepOut(BaseModel):
    """``bot.engine.sweep.Sweep`` (docs/metrics.md, "The router's threshold sweep")."""

    sentence: str
    weak: str
    strong: str
    tasks: int = Field(description="Scored tasks swept.")
    unscored: int = Field(description="Routed tasks without Agent-Route: score=.")
    minimum: int = Field(description="Scored tasks the sweep needs.")
    classes: list[str] = Field(description="The classes swept (it needs two).")
    thresholds: list[ThresholdOut]
    gap: EstimateOut | None = Field(description="All-strong minus all-weak shipped rate.")
    apgr: EstimateOut | None = Field(description="A random router's is 0.5.")
    p_better: float | None = Field(description="P(APGR > 0.5): better than a coin.")
    verdict: Literal["better", "worse", "unsure"] | None
    thin: list[ThinOut]

    @classmethod
    def of(cls, w: Sweep) -> SweepOut:
        thresholds = [ThresholdOut(score=t.score, share=t.share, shipped=t.shipped, pgr=t.pgr)
                      for t in w.thresholds]  # fmt: skip
        return cls(sentence=w.sentence(), weak=w.weak, strong=w.strong, tasks=w.tasks,
                   unscored=w.unscored, minimum=w.minimum, classes=list(w.classes),
                   thresholds=thresholds,
                   gap=EstimateOut.of(w.gap), apgr=EstimateOut.of(w.apgr), p_better=w.p_better,
                   verdict=w.verdict, thin=[ThinOut.of(t) for t in w.thin])  # fmt: skip


class ScorecardOut(BaseModel):
    """Does routing pay: the scorecard, the curve, routing against cascading and the router's
    threshold sweep."""

    installation_id: int
    repository: str | None
    since: date | None
    until: date | None
    scorecard: ScorecardFigures
    curve: CurveOut
    strategies: list[StrategyOut]
    sweep: SweepOut

    @classmethod
    def of(cls, dataset: explore.Dataset, r: explore.Routing) -> ScorecardOut:
        w = r.wanted
        return cls(installation_id=dataset.installation_id, repository=w.repository,
                   since=w.since, until=w.until, scorecard=ScorecardFigures.of(r.scorecard),
                   curve=CurveOut.of(r.curve),
                   strategies=[StrategyOut.of(s) for s in r.strategies],
                   sweep=SweepOut.of(r.sweep))  # fmt: skip


# The policy: docs/policy.schema.json, as models (a test holds one to the other).


class PolicyRule(BaseModel):
    delta: Share
    min_saving: Share


class ShippedEvidence(BaseModel):
    value: Share
    interval: list[float] = Field(min_length=2, max_length=2)


class CostEvidence(BaseModel):
    median: float = Field(ge=0, description="US dollars per shipped task.")
    interval: list[float] = Field(min_length=2, max_length=2)


class TierEvidence(BaseModel):
    tier: str
    tasks: int = Field(ge=0)
    shipped: ShippedEvidence
    cost_per_shipped: CostEvidence | None
    wins: Share


class ClassPolicyOut(BaseModel):
    task_class: str
    tier: str
    model: str | None
    explore_share: Share
    shares: dict[str, Share]
    action: Literal["switch", "keep", "explore"]
    reason: str
    evidence: list[TierEvidence]


class PolicyOut(BaseModel):
    """The routing policy, schema yield-auditor/policy/v1 (docs/policy.schema.json)."""

    schema_: Literal["yield-auditor/policy/v1"] = Field(alias="schema")
    since: str | None
    until: str | None
    default_tier: str
    rule: PolicyRule
    classes: list[ClassPolicyOut]

    model_config = ConfigDict(populate_by_name=True)  # answers are dumped by alias ("schema")
