"""Figures of many tasks summed in the database (``bot.engine.yields.Totals``), for reports.

A report of 100,000 tasks then reads a few rows instead of the tasks: every count and sum
of ``Totals`` is an aggregate over ``tasks`` and its rollup columns, and money is summed as
NUMERIC from the exact decimal strings of each task's spend document (docs/ledger.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.engine.attribution import BUCKETS, OPEN, SHIPPED
from bot.engine.yields import COUNTS, Totals
from bot.ledger.store import tasks as tasks_t


class Week(Protocol):
    """A half-open interval [start, end) in UTC, such as the digest's ``Period``: the ledger
    sits below the digest and so names only what it reads."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def totals(
    connection: Connection, repo_ids: Iterable[int], *where: Any, group: Sequence[Any] = ()
) -> dict[tuple, Totals]:
    """The totals of the repositories' tasks matching ``where``, per ``group`` key."""
    ids = list(repo_ids)
    if not ids:
        return {}
    query = (
        sa.select(*group, *_TOTALS).where(tasks_t.c.repository_id.in_(ids), *where).group_by(*group)
    )
    width = len(group)
    return {tuple(row[:width]): _totals_of_row(row[width:]) for row in connection.execute(query)}


def weekly_totals(
    connection: Connection, repo_ids: Iterable[int], weeks: Sequence[Week]
) -> list[Totals]:
    """The totals of the tasks finished in each of ``weeks`` (consecutive), in order."""
    f = tasks_t.c.finished_at
    week = sa.case(*((sa.and_(f >= w.start, f < w.end), i) for i, w in enumerate(weeks)))
    found = totals(connection, repo_ids, f >= weeks[0].start, f < weeks[-1].end, group=(week,))
    return [found.get((i,), Totals()) for i in range(len(weeks))]


def _count_if(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _columns() -> list[Any]:
    """The aggregates of ``Totals``, in its field order, then (tokens, usd, unpriced tokens)
    per bucket."""
    t = tasks_t.c
    counts = [
        sa.func.count(),
        _count_if(t.status == SHIPPED),
        _count_if(t.first_pass),
        _count_if(t.bounces[0].as_string().is_not(None)),
        _count_if(t.escalated),
        _count_if(t.ci_first_pass.is_(True)),
        sa.func.count(t.ci_first_pass),
        _count_if(t.review_first_pass.is_(True)),
        sa.func.count(t.review_first_pass),
        _count_if(t.status != OPEN),
        _count_if(sa.and_(t.status != OPEN, t.merged)),
        _count_if(t.merged),
        _count_if(sa.and_(t.merged, t.survived.is_(True))),
        sa.func.sum(t.agent_rework_commits),
        sa.func.sum(t.human_rework_commits),
    ]
    assert len(counts) == len(COUNTS), "one aggregate per count of Totals"
    spend = [
        sa.func.sum(column)
        for bucket in BUCKETS
        for column in (
            t.spend[(bucket, "tokens")].as_float(),
            sa.cast(t.spend[(bucket, "usd")].as_string(), sa.Numeric()),
            t.spend[(bucket, "unpriced_tokens")].as_float(),
        )
    ]
    return counts + spend


_TOTALS = _columns()


def _totals_of_row(values: Sequence[Any]) -> Totals:
    counts = {name: int(v or 0) for name, v in zip(COUNTS, values, strict=False)}
    sums = values[len(COUNTS) :]
    spend = tuple(
        (bucket, float(sums[3 * i] or 0), _decimal(sums[3 * i + 1]), float(sums[3 * i + 2] or 0))
        for i, bucket in enumerate(BUCKETS)
    )
    return Totals(**counts, spend=spend)


def _decimal(value: Any) -> Decimal:
    """A NUMERIC sum: a Decimal from PostgreSQL, a number from SQLite."""
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(repr(value))
