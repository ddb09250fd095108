"""The ledger reads behind a digest, and ``build_digest``: read at the edge, then compose.

Everything here is SQL over ``bot.ledger.store``'s tables; what the rows mean is decided in
``bot.digest.compose`` (pure).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.digest.compose import TREND_WEEKS, DatedTask, compose
from bot.digest.model import Digest, Period
from bot.digest.period import shift
from bot.engine.attribution import OPEN, SHIPPED
from bot.engine.report import Outcome, task_cost
from bot.engine.scorecard import Charge, Routed, record
from bot.ledger.store import attempts as attempts_t
from bot.ledger.store import repositories as repositories_t
from bot.ledger.store import tasks as tasks_t


def build_digest(
    session: Session,
    installation_id: int,
    period: Period,
    settings: Any = None,
    repositories: Sequence[str] | None = None,
    dashboard_url: str | None = None,
    timezone: str = "UTC",
) -> Digest:
    """The digest of ``period`` for the installation's repositories (or those named).

    ``timezone`` is the schedule's: the previous weeks of the scorecard and the trend are ISO
    weeks in it, like ``period``. ``settings`` is accepted for symmetry with the senders. Only
    the period's tasks are read whole; the trend's weeks, which the routing scorecard weighs,
    as its records, and the history behind the advice as outcomes.
    """
    names = list(repositories) if repositories is not None else repositories_of(
        session, installation_id
    )  # fmt: skip
    from bot.ledger.totals import weekly_totals

    weeks = [shift(period, i, timezone) for i in range(1 - TREND_WEEKS, 1)]
    dated, missing = load_dated_tasks(session, names, period.start, period.end)
    ids = _repository_ids(session, names)
    connection = session.connection()
    notes = [f"{name}: not in the ledger yet" for name in missing]
    f = tasks_t.c.finished_at
    records = routed_records(connection, ids.values(), f >= weeks[0].start, f < period.end)
    return compose(installation_id, account_of(session, installation_id), weeks, dated,
                   tuple(names), dashboard_url, tuple(notes),
                   history=history_outcomes(connection, ids, period.end),
                   still_open=open_tasks(connection, ids),
                   weekly=weekly_totals(connection, ids.values(), weeks),
                   routed_tasks=records)  # fmt: skip


def repositories_of(session: Session, installation_id: int) -> list[str]:
    t = repositories_t
    query = sa.select(t.c.full_name).where(t.c.installation_id == installation_id)
    return sorted(session.connection().execute(query).scalars())


def active_installations(session: Session) -> list[int]:
    from bot.ledger.schema import InstallationRow

    t = InstallationRow.__table__  # type: ignore[attr-defined]
    query = sa.select(t.c.id).where(t.c.state == "active").order_by(t.c.id)
    return list(session.connection().execute(query).scalars())


def account_of(session: Session, installation_id: int) -> str:
    from bot.ledger.schema import InstallationRow

    t = InstallationRow.__table__  # type: ignore[attr-defined]
    query = sa.select(t.c.account_login).where(t.c.id == installation_id)
    return session.connection().execute(query).scalar_one_or_none() or f"#{installation_id}"


def _repository_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    t = repositories_t
    query = sa.select(t.c.full_name, t.c.id).where(t.c.full_name.in_(sorted(set(names))))
    return {name: id_ for name, id_ in session.connection().execute(query)}


def load_dated_tasks(
    session: Session,
    names: Iterable[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[list[DatedTask], list[str]]:
    """The repositories' tasks with their finishing time (those finished in [start, end) when
    both are given, else all), by repository and id; and the names not in the ledger."""
    names = sorted(set(names))
    ids = _repository_ids(session, names)
    f = tasks_t.c.finished_at
    window = (f >= start, f < end) if start is not None and end is not None else ()
    order = (repositories_t.c.full_name, tasks_t.c.key)
    dated = dated_tasks(session.connection(), ids.values(), *window, order=order)
    return dated, [n for n in names if n not in ids]


def dated_tasks(
    connection: Any, repo_ids: Iterable[int], *where: Any, **page: Any
) -> list[DatedTask]:
    """The repositories' tasks matching ``where`` with their attempts, finishing time and
    title; ``page`` is ``order``, ``limit`` and ``offset`` of ``bot.ledger.store.scoped``."""
    from bot.ledger.store import attempts_of, scoped, task_from_row

    rows = connection.execute(scoped(tasks_t, repo_ids, *where, **page)).all()
    attempts = attempts_of(connection, [r.id for r in rows])
    return [DatedTask(task_from_row(r, r.full_name, attempts.get(r.id, ())), r.finished_at,
                      r.title) for r in rows]  # fmt: skip


def history_outcomes(connection: Any, repo_ids: Mapping[str, int], end: datetime) -> list[Outcome]:
    """What the advice needs of every routed task finished before ``end``: a few columns per
    task, not whole tasks, so years of history stay cheap."""
    t = tasks_t.c
    query = sa.select(t.task_class, t.tier, t.status, t.tokens, t.unpriced_tokens, t.usd).where(
        t.repository_id.in_(list(repo_ids.values())),
        t.finished_at < end,
        t.tier.is_not(None),
        t.status != OPEN,
    )
    return [Outcome(r.task_class, r.tier, r.status == SHIPPED,
                    task_cost(r.tokens, r.unpriced_tokens, r.usd))
            for r in connection.execute(query)]  # fmt: skip


def routed_records(
    connection: Any,
    repo_ids: Iterable[int],
    *where: Any,
    merge_hours: Mapping[str, float] | None = None,
) -> list[Routed]:
    """The finished, routed tasks of the repositories matching ``where`` as the routing
    scorecard reads them (with their hours to merge by task id, where given), by id as every
    surface takes them: a few columns and each attempt's charge, not whole tasks, so months of
    tasks stay cheap (``bot.engine.scorecard.record``).

    The JSON columns are read as text and decoded by orjson, and an attempt's bounces only
    where a record reads them (the first attempt of an escalated task): decoding dominated.
    """
    t, a = tasks_t.c, attempts_t.c
    where = (t.repository_id.in_(list(repo_ids)), t.tier.is_not(None), t.status != OPEN, *where)
    charges: dict[int, list[Charge]] = defaultdict(list)
    query = (
        sa.select(
            a.task_id,
            a.tier,
            a.tokens,
            a.unpriced_tokens,
            a.usd,
            t.escalated,
            sa.cast(a.bounces, sa.Text).label("bounces"),
        )  # fmt: skip
        .join(tasks_t, t.id == a.task_id)
        .where(*where)
        .order_by(a.task_id, a.position)
    )
    for r in connection.execute(query):
        first = r.task_id not in charges
        bounces = orjson.loads(r.bounces) if first and r.escalated else ()
        charges[r.task_id].append((r.tier, r.tokens, r.unpriced_tokens, r.usd, bounces))
    columns = (t.id, t.key, t.task_class, t.tier, t.status, t.tokens, t.unpriced_tokens, t.usd,
               sa.cast(t.spend, sa.Text).label("spend"), t.route_score, t.strategy,
               t.escalated, t.model)  # fmt: skip
    rows = sorted(connection.execute(sa.select(*columns).where(*where)), key=lambda r: r.key)
    hours = merge_hours or {}
    return [record(Outcome(r.task_class, r.tier, r.status == SHIPPED,
                           task_cost(r.tokens, r.unpriced_tokens, r.usd)),
                   charges[r.id], _usd_by_bucket(r.spend), r.route_score, r.strategy,
                   r.escalated, r.model, hours.get(r.key))
            for r in rows]  # fmt: skip


def first_commits(connection: Any, repo_ids: Iterable[int], *where: Any) -> list[Any]:
    """Per merged task of the repositories matching ``where``: its id, repository id, when it
    finished and its first attempt's commits, what its hours to merge need
    (``bot.engine.scorecard.hours_from``); tasks merged without a pull request left out."""
    t, a = tasks_t.c, attempts_t.c
    query = (
        sa.select(
            t.key,
            t.repository_id,
            t.finished_at,
            sa.cast(t.pr_numbers, sa.Text).label("prs"),
            sa.cast(a.commits, sa.Text).label("commits"),
        )  # fmt: skip
        .join(tasks_t, t.id == a.task_id)
        .where(t.repository_id.in_(list(repo_ids)), t.merged.is_(True), a.position == 0, *where)
    )
    return [(r.key, r.repository_id, r.finished_at, orjson.loads(r.commits))
            for r in connection.execute(query) if orjson.loads(r.prs)]  # fmt: skip


def _usd_by_bucket(spend: str) -> dict[str, Decimal]:
    """A task's stored spend document (JSON text), dollars per waterfall bucket."""
    return {bucket: Decimal(s["usd"]) for bucket, s in orjson.loads(spend).items()}


def open_tasks(connection: Any, repo_ids: Mapping[str, int]) -> int:
    """How many of the repositories' tasks are still open (not finished)."""
    query = (
        sa.select(sa.func.count())
        .select_from(tasks_t)
        .where(
            tasks_t.c.repository_id.in_(list(repo_ids.values())), tasks_t.c.finished_at.is_(None)
        )
    )
    return int(connection.execute(query).scalar() or 0)
