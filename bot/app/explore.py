"""What the dashboard and the API show of one installation (docs/dashboard.md).

``load_installation`` gives a ``Dataset``: one installation's header and its ledger, which the
functions here query in SQL, always scoped to the installation's repositories. Figures come from
``bot.engine.yields`` over the tasks of a window and recommendations from ``bot.engine.report``, so
every page and endpoint computes them as the weekly digest (``bot.digest.compose``) does. Lists are
filtered, ordered and paged in the database, using the rollups ``replace_tasks`` stores (when each
task finished, its title and spend totals, its pull requests), so a page costs the same with 100
tasks as with 100,000 (bench/scale.py).

A window is a run of ISO weeks; a task belongs to the week it finished in (docs/digests.md),
so the figures of a week on the dashboard are the figures of that week's digest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.digest.compose import DatedTask, _advice, cells, pull_url
from bot.digest.model import Advice, Cell, Period
from bot.digest.period import period_of, shift
from bot.digest.query import (
    dated_tasks,
    first_commits,
    history_outcomes,
    open_tasks,
    routed_records,
)
from bot.engine.attribution import Spend, Task
from bot.engine.curve import Curve, Strategy, curve, strategies
from bot.engine.policy import Policy, policy
from bot.engine.records import PullRequest
from bot.engine.report import Outcome, cells_of, recommendations
from bot.engine.scorecard import (
    MOST_EXPENSIVE,
    MOST_USED,
    Routed,
    Scorecard,
    hours_from,
    scorecard,
)
from bot.engine.sweep import Sweep, sweep
from bot.engine.yields import GroupMetrics, Totals, calibration_of, from_totals, summarise
from bot.ledger import inbox
from bot.ledger.store import BATCH_SIZE, pull_from_row, scoped, task_pull_requests
from bot.ledger.store import commits as commits_t
from bot.ledger.store import pull_requests as pulls_t
from bot.ledger.store import repositories as repositories_t
from bot.ledger.store import tasks as tasks_t
from bot.ledger.totals import totals, weekly_totals
from bot.stats.posterior import Rate

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
OUTCOMES = ("shipped", "reverted", "abandoned", "open")
FAILED_SHOWN = 50
DIGESTS_SHOWN = 20


@dataclass(frozen=True)
class Dataset:
    """One installation, and the engine its ledger is read from (every query is scoped)."""

    installation_id: int
    account: str
    state: str
    repositories: tuple[str, ...]
    repo_ids: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    engine: Engine | None = field(default=None, repr=False, compare=False)

    @cached_property
    def dated(self) -> tuple[DatedTask, ...]:
        """Every task with its attempts, by repository and id, read whole: for scripts and
        the tests that check pages against it; pages and the API ask for what they show."""
        return tuple(_dated(self, order=(repositories_t.c.full_name, tasks_t.c.key)))

    @cached_property
    def pulls(self) -> tuple[PullRequest, ...]:
        """Every pull request, by repository and number."""
        return tuple(_pull_requests(self, order=(repositories_t.c.full_name, pulls_t.c.number)))

    def pull(self, repository: str, number: int) -> PullRequest | None:
        repo_id = self.repo_ids.get(repository)
        if repo_id is None:
            return None
        found = _pull_requests(self, pulls_t.c.repository_id == repo_id, pulls_t.c.number == number)
        return found[0] if found else None


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
class Routing:
    """Does routing pay (docs/metrics.md): the scorecard against ``reference``, the
    routing-efficiency curve and the router's threshold sweep up to that tier, and routing
    against cascading, of the tasks ``wanted`` selects (a repository, the dates they finished)."""

    wanted: TaskFilter
    reference: str
    scorecard: Scorecard
    curve: Curve
    strategies: tuple[Strategy, ...]
    sweep: Sweep


@dataclass(frozen=True, slots=True)
class Operations:
    """The admin's view of an installation's inbox and digests."""

    queue: inbox.QueueStats
    failed: tuple[inbox.Delivery, ...]
    digests: tuple[Any, ...]  # bot.ledger.store.DigestSend, newest first
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
    from bot.ledger.schema import InstallationRow

    i = InstallationRow.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    found = connection.execute(
        sa.select(i.c.account_login, i.c.state).where(i.c.id == installation_id)
    ).first()
    if found is None:
        return None
    r = repositories_t
    ids = dict(connection.execute(
        sa.select(r.c.full_name, r.c.id).where(r.c.installation_id == installation_id)
    ).all())  # fmt: skip
    return Dataset(installation_id, found.account_login, found.state, tuple(sorted(ids)), ids,
                   session.get_bind())  # fmt: skip


def operations(engine: Engine, installation_id: int) -> Operations:
    """Inbox status, failed deliveries and the last digests, of this installation only."""
    from bot.ledger.store import load_digest_sends

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


# --------------------------------------------------------------------------- reading


def _dated(dataset: Dataset, *where: Any, **page: Any) -> list[DatedTask]:
    """The installation's tasks matching ``where``, whole (``bot.digest.query.dated_tasks``)."""
    with _connect(dataset) as connection:
        return dated_tasks(connection, dataset.repo_ids.values(), *where, **page)


def _pull_requests(dataset: Dataset, *where: Any, **page: Any) -> list[PullRequest]:
    query = scoped(pulls_t, dataset.repo_ids.values(), *where, **page)
    with _connect(dataset) as connection:
        return [pull_from_row(r, r.full_name) for r in connection.execute(query)]


def _connect(dataset: Dataset) -> Any:
    if dataset.engine is None:
        raise ValueError("this dataset has no ledger to read")
    return dataset.engine.connect()


def _scalar(dataset: Dataset, query: Any) -> Any:
    with _connect(dataset) as connection:
        return connection.execute(query).scalar()


def _totals(dataset: Dataset, *where: Any, group: Sequence[Any] = ()) -> dict[tuple, Totals]:
    """``Totals`` of the installation's tasks matching ``where``, per ``group``."""
    with _connect(dataset) as connection:
        return totals(connection, dataset.repo_ids.values(), *where, group=group)


def _in_window(window: Window) -> list[Any]:
    return [tasks_t.c.finished_at >= window.start, tasks_t.c.finished_at < window.end]


def _weekly(dataset: Dataset, window: Window) -> list[Totals]:
    """The totals of each week of the window, oldest first."""
    with _connect(dataset) as connection:
        return weekly_totals(connection, dataset.repo_ids.values(), window.weeks)


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
        when = _latest_finish(dataset, now)
        last = period_of((when or now).strftime("%G-W%V"), "UTC", when or now)
        latest = when is not None and last != this_week
    return Window(tuple(shift(last, i) for i in range(1 - weeks, 1)), latest)


def _latest_finish(dataset: Dataset, now: datetime) -> datetime | None:
    if dataset.engine is None or not dataset.repo_ids:
        return None
    query = sa.select(sa.func.max(tasks_t.c.finished_at)).where(
        tasks_t.c.repository_id.in_(list(dataset.repo_ids.values())),
        tasks_t.c.finished_at < now,
    )
    return _scalar(dataset, query)  # MAX keeps the column's type: a UTC-aware datetime


# --------------------------------------------------------------------------- pages


def overview(dataset: Dataset, window: Window) -> Overview:
    """The window's figures and one point per week for the trend charts."""
    weekly = _weekly(dataset, window)
    trend = tuple(Week(w.label, from_totals(t)) for w, t in zip(window.weeks, weekly, strict=True))
    with _connect(dataset) as connection:
        still_open = open_tasks(connection, dataset.repo_ids)
    return Overview(window, from_totals(sum(weekly, Totals())), trend, still_open)


def matrix(dataset: Dataset, window: Window, seed: int = 0) -> Matrix:
    """Tier x task class cells of the window; advice from all history up to its end."""
    groups = _totals(dataset, *_in_window(window), group=(tasks_t.c.tier, tasks_t.c.task_class))
    found = tuple(cells({key: from_totals(t) for key, t in groups.items()}))  # type: ignore[misc]
    return Matrix(
        window,
        tiers=tuple(sorted({c.tier for c in found}, key=_tier_key)),
        classes=tuple(sorted({c.task_class for c in found})),
        cells=found,
        advice=tuple(_advice(recommendations(cells_of(_history(dataset, window.end)), seed))),
    )


def _history(dataset: Dataset, end: datetime) -> list[Outcome]:
    with _connect(dataset) as connection:
        return history_outcomes(connection, dataset.repo_ids, end)


def _tier_key(tier: str) -> tuple[int, str]:
    """Tiers cheapest first when they have the conventional names, then by name."""
    order = ("economy", "standard", "frontier")
    return (order.index(tier), "") if tier in order else (len(order), tier)


def repositories(dataset: Dataset, window: Window) -> list[tuple[str, GroupMetrics]]:
    """Each repository's figures over the window (repositories without tasks included)."""
    groups = _totals(dataset, *_in_window(window), group=(tasks_t.c.repository_id,))
    return [(name, from_totals(groups.get((dataset.repo_ids[name],), Totals())))
            for name in dataset.repositories]  # fmt: skip


def calibration_buckets(dataset: Dataset, window: Window) -> list[tuple[float, float, Rate]]:
    """Router score bucket against first-pass yield (docs/metrics.md)."""
    if not dataset.repo_ids:
        return calibration_of(())
    t = tasks_t.c
    query = sa.select(t.route_score, t.first_pass).where(
        t.repository_id.in_(list(dataset.repo_ids.values())), t.route_score.is_not(None),
        *_in_window(window),
    )  # fmt: skip
    with _connect(dataset) as connection:
        return calibration_of(connection.execute(query).all())


def references(dataset: Dataset) -> tuple[str, ...]:
    """What a scorecard can be measured against: the two rules, then every tier seen."""
    tiers = [v for v in _distinct(dataset, tasks_t.c.tier) if v]
    return (MOST_EXPENSIVE, MOST_USED, *sorted(set(tiers), key=_tier_key))


def _routed(dataset: Dataset, wanted: TaskFilter, hours: bool = False) -> list[Routed]:
    """The finished, routed tasks of ``wanted`` (a repository and dates; other fields ignored),
    by id: the posterior draws depend on the order, which must not depend on the query's.
    ``hours`` adds their hours to merge (only the strategies read them)."""
    scope = TaskFilter(repository=wanted.repository, since=wanted.since, until=wanted.until)
    where = _task_conditions(dataset, scope)
    with _connect(dataset) as connection:
        found = _merge_hours(dataset, connection, where) if hours else None
        return routed_records(connection, dataset.repo_ids.values(), *where, merge_hours=found)


def _merge_hours(dataset: Dataset, connection: Any, where: Sequence[Any]) -> dict[str, float]:
    """Per merged task, its hours to merge (``bot.engine.scorecard.hours_from``): from the
    author times of its first attempt's commits to when it finished, its first merge."""
    merged = first_commits(connection, dataset.repo_ids.values(), *where)
    wanted: dict[int, set[str]] = {}
    for _, repo_id, _, commits in merged:
        wanted.setdefault(repo_id, set()).update(commits)
    c = commits_t.c
    authored: dict[int, dict[str, datetime]] = {}
    for repo_id, shas in wanted.items():  # one repository a query: the (repository, sha) index
        ordered = sorted(shas)
        for i in range(0, len(ordered), BATCH_SIZE):
            query = sa.select(c.sha, c.authored_at).where(
                c.repository_id == repo_id, c.sha.in_(ordered[i : i + BATCH_SIZE])
            )
            found = authored.setdefault(repo_id, {})
            found.update((sha, when) for sha, when in connection.execute(query))
    hours = {}
    for key, repo_id, finished, commits in merged:
        found = hours_from(commits, finished, authored.get(repo_id, {}))
        if found is not None:
            hours[key] = found
    return hours


def routing(
    dataset: Dataset, wanted: TaskFilter, reference: str = MOST_EXPENSIVE, seed: int = 0
) -> Routing:
    """The scorecard, curve, strategies and threshold sweep of the installation's tasks that
    ``wanted`` selects."""
    records = _routed(dataset, wanted, hours=True)
    return Routing(
        wanted,
        reference,
        scorecard(records, reference, seed=seed),
        curve(records, frontier=reference, seed=seed),
        tuple(strategies(records, seed=seed)),
        sweep(records, strong=reference, seed=seed),
    )


def routing_policy(dataset: Dataset, wanted: TaskFilter, seed: int = 0) -> Policy:
    """The policy for a router, from the installation's tasks that ``wanted`` selects."""
    since, until = (d.isoformat() if d else None for d in (wanted.since, wanted.until))
    return policy(_routed(dataset, wanted), since=since, until=until, seed=seed)


def waterfall(dataset: Dataset, window: Window) -> dict[str, Spend]:
    """Where the window's tokens and dollars went, bucket by bucket."""
    return from_totals(sum(_weekly(dataset, window), Totals())).waterfall


# --------------------------------------------------------------------------- lists


def task_page(dataset: Dataset, wanted: TaskFilter, page: int, per_page: int) -> Page:
    """One page of the matching tasks (with their attempts), open ones first, then the latest
    finished; ``total`` counts them all."""
    _check_page(page, per_page)
    where = _task_conditions(dataset, wanted)
    total = _scalar(dataset, sa.select(sa.func.count()).select_from(tasks_t).where(
        tasks_t.c.repository_id.in_(list(dataset.repo_ids.values())), *where
    ))  # fmt: skip
    found = _dated(dataset, *where, order=_TASK_ORDER, limit=per_page,
                   offset=(page - 1) * per_page)  # fmt: skip
    return Page(tuple(found), page, per_page, int(total or 0))


def tasks(dataset: Dataset, wanted: TaskFilter) -> list[DatedTask]:
    """Every matching task, in the order of ``task_page`` (CSV exports)."""
    return _dated(dataset, *_task_conditions(dataset, wanted), order=_TASK_ORDER)


_TASK_ORDER = (tasks_t.c.finished_at.is_not(None), tasks_t.c.finished_at.desc(), tasks_t.c.key)


def task(dataset: Dataset, repository: str, key: str) -> DatedTask | None:
    repo_id = dataset.repo_ids.get(repository)
    if repo_id is None:
        return None
    found = _dated(dataset, tasks_t.c.repository_id == repo_id, tasks_t.c.key == key)
    return found[0] if found else None


def _task_conditions(dataset: Dataset, wanted: TaskFilter) -> list[Any]:
    """``wanted`` as SQL conditions on ``tasks``: a tier, agent or model of "unknown" is
    none recorded; the dates are when the task finished."""
    t = tasks_t.c
    where: list[Any] = []
    if wanted.repository is not None:
        repo_id = dataset.repo_ids.get(wanted.repository)
        where.append(t.repository_id == repo_id if repo_id is not None else sa.false())
    for name, column in (("tier", t.tier), ("agent", t.agent), ("model", t.model)):
        value = getattr(wanted, name)
        if value == "unknown":
            where.append(sa.or_(column == value, column.is_(None), column == ""))
        elif value is not None:
            where.append(column == value)
    if wanted.task_class is not None:
        where.append(t.task_class == wanted.task_class)
    if wanted.outcome is not None:
        where.append(t.status == wanted.outcome)
    return where + _dates(t.finished_at, wanted)


def _dates(column: Any, wanted: TaskFilter) -> list[Any]:
    """Inclusive UTC dates as a half-open range of instants."""
    where = []
    if wanted.since is not None:
        where.append(column >= datetime.combine(wanted.since, time(), UTC))
    if wanted.until is not None:
        where.append(column < datetime.combine(wanted.until + timedelta(days=1), time(), UTC))
    return where


def pull_page(dataset: Dataset, wanted: TaskFilter, page: int, per_page: int) -> Page:
    """One page of the pull requests carrying matching tasks (``pulls``), newest first."""
    _check_page(page, per_page)
    where = _pull_conditions(dataset, wanted)
    total = _scalar(dataset, sa.select(sa.func.count()).select_from(pulls_t).where(*where))
    found = _pull_requests(dataset, *where, order=_PULL_ORDER, limit=per_page,
                           offset=(page - 1) * per_page)  # fmt: skip
    return Page(tuple(_pull_rows(dataset, found)), page, per_page, int(total or 0))


def pulls(dataset: Dataset, wanted: TaskFilter) -> list[PullRow]:
    """Pull requests carrying agent tasks; a task filter keeps a pull request with a match,
    the outcome is its tasks' worst, and the dates are when it was opened. Newest first."""
    found = _pull_requests(dataset, *_pull_conditions(dataset, wanted), order=_PULL_ORDER)
    return _pull_rows(dataset, found)


_PULL_ORDER = (pulls_t.c.created_at.desc().nulls_last(), repositories_t.c.full_name,
               pulls_t.c.number.desc())  # fmt: skip
WORST_FIRST = ("reverted", "abandoned", "open", "shipped")  # a pull request's outcome


def _pull_conditions(dataset: Dataset, wanted: TaskFilter) -> list[Any]:
    p, link = pulls_t.c, task_pull_requests.c

    def carries(*conditions: Any) -> Any:
        return sa.exists(
            sa.select(1)
            .select_from(task_pull_requests.join(tasks_t, tasks_t.c.id == link.task_id))
            .where(
                link.repository_id == p.repository_id, link.pr_number == p.number, *conditions
            )  # fmt: skip
        )

    by_task = replace(wanted, outcome=None, since=None, until=None)
    where = [p.repository_id.in_(list(dataset.repo_ids.values())),
             carries(*_task_conditions(dataset, by_task))]  # fmt: skip
    if wanted.outcome is not None and wanted.outcome not in WORST_FIRST:
        where.append(sa.false())  # no pull request has that outcome
    elif wanted.outcome is not None:
        worse = WORST_FIRST[: WORST_FIRST.index(wanted.outcome)]
        where.append(carries(tasks_t.c.status == wanted.outcome))
        if worse:
            where.append(~carries(tasks_t.c.status.in_(worse)))
    return where + _dates(p.created_at, wanted)


def _pull_rows(dataset: Dataset, found: Sequence[PullRequest]) -> list[PullRow]:
    """Each pull request with its tasks (and their attempts)."""
    if not found:
        return []
    link = task_pull_requests.c
    numbers = sorted({p.number for p in found})
    dated = _dated(dataset, sa.exists(
        sa.select(1).where(link.task_id == tasks_t.c.id, link.pr_number.in_(numbers))
    ), order=(tasks_t.c.key,))  # fmt: skip
    return [
        PullRow(p, tuple(d for d in dated if d.task.repository == p.repository
                         and p.number in d.task.pr_numbers))
        for p in found
    ]  # fmt: skip


def pull(dataset: Dataset, repository: str, number: int) -> PullRow | None:
    found = dataset.pull(repository, number)
    return _pull_rows(dataset, [found])[0] if found is not None else None


def choices(dataset: Dataset) -> dict[str, tuple[str, ...]]:
    """The values each filter can take in this installation (the filter form's options)."""
    t = tasks_t.c
    picks = {"tier": t.tier, "task_class": t.task_class, "agent": t.agent, "model": t.model}
    found: dict[str, tuple[str, ...]] = {"repository": dataset.repositories}
    for name, column in picks.items():
        values = _distinct(dataset, column)
        found[name] = tuple(sorted({v or "unknown" for v in values}))
    found["tier"] = tuple(sorted(found["tier"], key=_tier_key))
    return {**found, "outcome": OUTCOMES}


def _distinct(dataset: Dataset, column: Any) -> list[Any]:
    if not dataset.repo_ids:
        return []
    query = (
        sa.select(column)
        .distinct()
        .where(tasks_t.c.repository_id.in_(list(dataset.repo_ids.values())))
    )
    with _connect(dataset) as connection:
        return list(connection.execute(query).scalars())


def _check_page(page: int, per_page: int) -> None:
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")


def paginate(items: Sequence[Any], page: int, per_page: int) -> Page:
    """``page`` of ``items``; a page past the end is empty (the caller says so)."""
    _check_page(page, per_page)
    start = (page - 1) * per_page
    return Page(tuple(items[start : start + per_page]), page, per_page, len(items))


def task_url(task: Task) -> str | None:
    """The task's latest pull request on GitHub (see ``bot.digest.compose.pull_url``)."""
    return pull_url(task)


def spend_of(task: Task) -> tuple[float, Decimal, float]:
    """All tokens, priced dollars and unpriced tokens of a task."""
    spends = task.spend.values()
    return (
        sum(s.tokens for s in spends),
        sum((s.usd for s in spends), Decimal(0)),
        sum(s.unpriced_tokens for s in spends),
    )
