"""What the dashboard and the API show of one installation (docs/dashboard.md).

``load_installation`` reads the ledger once per request, always scoped to one installation:
its repositories, their tasks (with the instant each finished) and pull requests. Everything
else here is pure over that ``Dataset``, so every page and endpoint computes its figures the
same way as the weekly digest (``bot.digest``) and the audit report (``bot.metrics``).

A window is a run of ISO weeks; a task belongs to the week it finished in (docs/digests.md),
so the figures of a week on the dashboard are the figures of that week's digest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import inbox
from bot.attribution import Spend, Task
from bot.digest import (
    DatedTask,
    _advice,
    _matrix,
    account_of,
    load_dated_tasks,
    period_of,
    pull_url,
    repositories_of,
    shift,
)
from bot.digest_model import Advice, Cell, Period
from bot.metrics import GroupMetrics, breakdown, calibration, summarise
from bot.records import PullRequest
from bot.report import _recommendations
from bot.stats import Rate

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
OUTCOMES = ("shipped", "reverted", "abandoned", "open")
FAILED_SHOWN = 50
DIGESTS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Dataset:
    """One installation's ledger, as the pages need it."""

    installation_id: int
    account: str
    state: str
    repositories: tuple[str, ...]
    dated: tuple[DatedTask, ...]
    pulls: tuple[PullRequest, ...]

    def pull(self, repository: str, number: int) -> PullRequest | None:
        return next(
            (p for p in self.pulls if p.repository == repository and p.number == number), None
        )


@dataclass(frozen=True, slots=True)
class Window:
    """Consecutive ISO weeks, oldest first; ``latest`` says the end was chosen by the data."""

    weeks: tuple[Period, ...]
    latest: bool = False

    @property
    def start(self) -> datetime:
        return self.weeks[0].start

    @property
    def end(self) -> datetime:
        return self.weeks[-1].end

    @property
    def label(self) -> str:
        first, last = self.weeks[0].label, self.weeks[-1].label
        return first if first == last else f"{first} to {last}"

    def contains(self, when: datetime | None) -> bool:
        return when is not None and self.start <= when < self.end

    def dates(self) -> tuple[date, date]:
        """The window as inclusive UTC dates, for a task filter (the heatmap's drill-down)."""
        return self.start.date(), (self.end - timedelta(microseconds=1)).date()


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What the pull request and task lists can be narrowed by; None matches anything.

    ``since`` and ``until`` are inclusive UTC dates of when a task finished (of when a pull
    request was opened, for the pull request list); an open task has no finishing date.
    """

    repository: str | None = None
    tier: str | None = None
    task_class: str | None = None
    agent: str | None = None
    model: str | None = None
    outcome: str | None = None
    since: date | None = None
    until: date | None = None

    def matches(self, task: Task) -> bool:
        wanted = {
            "repository": task.repository,
            "tier": task.tier or "unknown",
            "task_class": task.task_class,
            "agent": task.agent or "unknown",
            "model": task.model or "unknown",
            "outcome": task.status,
        }
        return all(getattr(self, k) in (None, v) for k, v in wanted.items())

    def in_dates(self, when: datetime | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if when is None:
            return False
        day = when.astimezone(UTC).date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )


@dataclass(frozen=True, slots=True)
class Week:
    """One week of the trend charts."""

    label: str
    metrics: GroupMetrics


@dataclass(frozen=True, slots=True)
class Overview:
    window: Window
    metrics: GroupMetrics
    trend: tuple[Week, ...]
    open_tasks: int


@dataclass(frozen=True, slots=True)
class Matrix:
    window: Window
    tiers: tuple[str, ...]
    classes: tuple[str, ...]
    cells: tuple[Cell, ...]
    advice: tuple[Advice, ...]


@dataclass(frozen=True, slots=True)
class PullRow:
    """A pull request with the agent tasks whose commits it carries.

    A task spanning several pull requests is counted in each of them (its spend is the
    task's, not split between them), so the column sums of the list can exceed the total.
    """

    pull: PullRequest
    tasks: tuple[DatedTask, ...]

    @property
    def metrics(self) -> GroupMetrics:
        return summarise([d.task for d in self.tasks])

    def values(self, pick: Callable[[Task], str | None]) -> tuple[str, ...]:
        return tuple(sorted({pick(d.task) or "unknown" for d in self.tasks}))

    @property
    def outcome(self) -> str:
        """The worst outcome of its tasks, so a list filtered by outcome finds it."""
        statuses = {d.task.status for d in self.tasks}
        return next((s for s in ("reverted", "abandoned", "open", "shipped") if s in statuses), "")


@dataclass(frozen=True, slots=True)
class Operations:
    """The admin's view of an installation's inbox and digests."""

    queue: inbox.QueueStats
    failed: tuple[inbox.Delivery, ...]
    digests: tuple[Any, ...]  # bot.ledger.DigestSend, newest first
    pending_total: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, numbered from 1."""

    items: tuple[Any, ...]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


# --------------------------------------------------------------------------- the ledger edge


def installation_ids(session: Session) -> list[int]:
    """Every installation in the ledger (local mode sees them all)."""
    from bot.ledger.schema import InstallationRow

    t = InstallationRow.__table__  # type: ignore[attr-defined]
    return list(session.connection().execute(sa.select(t.c.id).order_by(t.c.id)).scalars())


def installation_rows(session: Session, ids: Iterable[int]) -> list[tuple[int, str, str, int]]:
    """(id, account, state, repositories) of the installations among ``ids``, by account."""
    from bot.ledger.schema import InstallationRow, RepositoryRow

    i = InstallationRow.__table__  # type: ignore[attr-defined]
    r = RepositoryRow.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(i.c.id, i.c.account_login, i.c.state, sa.func.count(r.c.id))
        .select_from(i.outerjoin(r, r.c.installation_id == i.c.id))
        .where(i.c.id.in_(sorted(set(ids))))
        .group_by(i.c.id, i.c.account_login, i.c.state)
        .order_by(i.c.account_login, i.c.id)
    )
    return [tuple(row) for row in session.connection().execute(query)]  # type: ignore[misc]


def load_installation(session: Session, installation_id: int) -> Dataset | None:
    """The installation's dataset; None when it is not in the ledger."""
    from bot.ledger import load_pull_requests
    from bot.ledger.schema import InstallationRow, RepositoryRow

    i = InstallationRow.__table__  # type: ignore[attr-defined]
    state = (
        session.connection()
        .execute(sa.select(i.c.state).where(i.c.id == installation_id))
        .scalar_one_or_none()
    )
    if state is None:
        return None
    names = repositories_of(session, installation_id)
    dated, _ = load_dated_tasks(session, names)
    r = RepositoryRow.__table__  # type: ignore[attr-defined]
    ids = session.connection().execute(
        sa.select(r.c.id).where(r.c.installation_id == installation_id).order_by(r.c.full_name)
    )
    pulls = [p for repo_id in ids.scalars() for p in load_pull_requests(session, repo_id)]
    return Dataset(installation_id, account_of(session, installation_id), state, tuple(names),
                   tuple(dated), tuple(pulls))  # fmt: skip


def operations(engine: Engine, installation_id: int) -> Operations:
    """Inbox status, failed deliveries and the last digests, of this installation only."""
    from bot.ledger import load_digest_sends

    with Session(engine) as session:
        sends = load_digest_sends(session, installation_id)
    sends.sort(key=lambda s: s.claimed_at, reverse=True)
    return Operations(
        queue=inbox.queue_stats(engine, installation_id),
        failed=tuple(inbox.list_deliveries(engine, inbox.FAILED, FAILED_SHOWN, installation_id)),
        digests=tuple(sends[:DIGESTS_SHOWN]),
    )


def retry_failed(engine: Engine, installation_id: int, guids: Sequence[str]) -> int:
    """Re-queue failed deliveries of this installation (those named, or all when none is):
    a finished delivery is never run again from the dashboard."""
    return inbox.requeue(engine, guids, failed=True, installation_id=installation_id)


# --------------------------------------------------------------------------- windows


def window(dataset: Dataset, to: str | None, weeks: int, now: datetime) -> Window:
    """``weeks`` ISO weeks ending with ``to`` ("YYYY-Www"), or by default with the latest
    week a task finished in (this week when nothing finished yet, and never after it).

    The default follows the data so that an installation quiet for a while, or the demo's
    scripted week, still shows its last figures; the page says which weeks it shows.
    """
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be between 1 and {MAX_WEEKS}, not {weeks}")
    this_week = period_of(now.strftime("%G-W%V"), "UTC", now)
    if to is not None:
        last, latest = period_of(to, "UTC", now), False
    else:
        finished = [d.finished_at for d in dataset.dated if d.finished_at and d.finished_at < now]
        when = max(finished, default=now)
        last, latest = period_of(when.strftime("%G-W%V"), "UTC", when), bool(finished)
        latest = latest and last != this_week
    return Window(tuple(shift(last, i) for i in range(1 - weeks, 1)), latest)


def _finished_in(dataset: Dataset, window: Window) -> list[Task]:
    return [d.task for d in dataset.dated if window.contains(d.finished_at)]


# --------------------------------------------------------------------------- pages


def overview(dataset: Dataset, window: Window) -> Overview:
    """The window's figures and one point per week for the trend charts."""
    trend = tuple(
        Week(week.label, summarise([d.task for d in dataset.dated if _in(week, d.finished_at)]))
        for week in window.weeks
    )
    open_tasks = sum(d.finished_at is None for d in dataset.dated)
    return Overview(window, summarise(_finished_in(dataset, window)), trend, open_tasks)


def _in(period: Period, when: datetime | None) -> bool:
    return when is not None and period.start <= when < period.end


def matrix(dataset: Dataset, window: Window, seed: int = 0) -> Matrix:
    """Tier x task class cells of the window; advice from all history up to its end."""
    tasks = _finished_in(dataset, window)
    cells = tuple(_matrix(tasks))
    history = [d.task for d in dataset.dated if d.finished_at and d.finished_at < window.end]
    return Matrix(
        window,
        tiers=tuple(sorted({c.tier for c in cells}, key=_tier_key)),
        classes=tuple(sorted({c.task_class for c in cells})),
        cells=cells,
        advice=tuple(_advice(_recommendations(history, seed))),
    )


def _tier_key(tier: str) -> tuple[int, str]:
    """Tiers cheapest first when they have the conventional names, then by name."""
    order = ("economy", "standard", "frontier")
    return (order.index(tier), "") if tier in order else (len(order), tier)


def repositories(dataset: Dataset, window: Window) -> list[tuple[str, GroupMetrics]]:
    """Each repository's figures over the window (repositories without tasks included)."""
    groups = breakdown(_finished_in(dataset, window), lambda t: t.repository)
    return [(name, groups.get(name) or summarise([])) for name in dataset.repositories]


def calibration_buckets(dataset: Dataset, window: Window) -> list[tuple[float, float, Rate]]:
    """Router score bucket against first-pass yield (docs/metrics.md)."""
    return calibration(_finished_in(dataset, window))


def waterfall(dataset: Dataset, window: Window) -> dict[str, Spend]:
    """Where the window's tokens and dollars went, bucket by bucket."""
    return summarise(_finished_in(dataset, window)).waterfall


def tasks(dataset: Dataset, wanted: TaskFilter) -> list[DatedTask]:
    """Tasks matching the filter, latest finished first (open tasks first of all)."""
    found = [d for d in dataset.dated if wanted.matches(d.task) and wanted.in_dates(d.finished_at)]
    return sorted(found, key=_latest_first)


def _latest_first(d: DatedTask) -> tuple[bool, float, str]:
    return (d.finished_at is not None, -(d.finished_at or _EPOCH).timestamp(), d.task.id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def task(dataset: Dataset, repository: str, key: str) -> DatedTask | None:
    return next(
        (d for d in dataset.dated if d.task.repository == repository and d.task.id == key), None
    )


def pulls(dataset: Dataset, wanted: TaskFilter) -> list[PullRow]:
    """Pull requests carrying agent tasks; a task filter keeps a pull request with a match.

    The date filter applies to when the pull request was opened; newest first.
    """
    rows = []
    for pull in dataset.pulls:
        own = tuple(
            d for d in dataset.dated
            if d.task.repository == pull.repository and pull.number in d.task.pr_numbers
        )  # fmt: skip
        if own and _pull_matches(pull, own, wanted):
            rows.append(PullRow(pull, own))
    return sorted(rows, key=lambda r: (-(r.pull.created_at or _EPOCH).timestamp(),
                                       r.pull.repository, -r.pull.number))  # fmt: skip


def _pull_matches(pull: PullRequest, own: Sequence[DatedTask], wanted: TaskFilter) -> bool:
    by_task = replace(wanted, outcome=None, since=None, until=None)
    if not any(by_task.matches(d.task) for d in own):
        return False
    if wanted.outcome is not None and PullRow(pull, tuple(own)).outcome != wanted.outcome:
        return False
    return wanted.in_dates(pull.created_at)


def pull(dataset: Dataset, repository: str, number: int) -> PullRow | None:
    found = dataset.pull(repository, number)
    if found is None:
        return None
    own = tuple(
        d for d in dataset.dated if d.task.repository == repository and number in d.task.pr_numbers
    )
    return PullRow(found, own)


def choices(dataset: Dataset) -> dict[str, tuple[str, ...]]:
    """The values each filter can take in this installation (the filter form's options)."""
    picks: dict[str, Callable[[Task], Hashable]] = {
        "repository": lambda t: t.repository,
        "tier": lambda t: t.tier or "unknown",
        "task_class": lambda t: t.task_class,
        "agent": lambda t: t.agent or "unknown",
        "model": lambda t: t.model or "unknown",
    }
    found = {k: tuple(sorted({str(f(d.task)) for d in dataset.dated})) for k, f in picks.items()}
    found["tier"] = tuple(sorted(found["tier"], key=_tier_key))
    return {**found, "outcome": OUTCOMES}


def paginate(items: Sequence[Any], page: int, per_page: int) -> Page:
    """``page`` of ``items``; a page past the end is empty (the caller says so)."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    start = (page - 1) * per_page
    return Page(tuple(items[start : start + per_page]), page, per_page, len(items))


def task_url(task: Task) -> str | None:
    """The task's latest pull request on GitHub (see ``bot.digest.pull_url``)."""
    return pull_url(task)


def spend_of(task: Task) -> tuple[float, Decimal, float]:
    """All tokens, priced dollars and unpriced tokens of a task."""
    spends = task.spend.values()
    return (
        sum(s.tokens for s in spends),
        sum((s.usd for s in spends), Decimal(0)),
        sum(s.unpriced_tokens for s in spends),
    )
