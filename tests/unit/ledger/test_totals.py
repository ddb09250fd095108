"""Totals summed in the database equal the totals of the same tasks summed in Python."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bot.demo.history import seed_history
from bot.digest.period import week_period
from bot.digest.query import load_dated_tasks, repositories_of
from bot.engine.yields import COUNTS, Totals, from_totals, summarise, totals_of
from bot.ledger.store import tasks as tasks_t
from bot.ledger.totals import totals, weekly_totals
from tests.scenario import seed


@pytest.fixture
def dated(ledger_engine):
    """The worked example and the demo's eleven weeks, with every kind of outcome."""
    seed(ledger_engine, installation=1, account="acme", repository="acme/app")
    with Session(ledger_engine) as session, session.begin():
        seed_history(session)
    with Session(ledger_engine) as session:
        names = repositories_of(session, 1)
        return load_dated_tasks(session, names)[0]


def repo_ids(engine) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                tasks_t.select().with_only_columns(tasks_t.c.repository_id).distinct()
            ).scalars()
        )


def same(sql: Totals, python: Totals) -> None:
    assert [getattr(sql, f) for f in COUNTS] == [getattr(python, f) for f in COUNTS]
    for (b1, t1, u1, n1), (b2, t2, u2, n2) in zip(sql.spend, python.spend, strict=True):
        assert b1 == b2 and t1 == pytest.approx(t2) and n1 == pytest.approx(n2)
        assert abs(u1 - u2) < Decimal("0.000001")  # SQLite sums money as doubles


def test_grouped_totals_match_python(ledger_engine, dated):
    with ledger_engine.connect() as connection:
        found = totals(
            connection, repo_ids(ledger_engine), group=(tasks_t.c.tier, tasks_t.c.task_class)
        )
    groups: dict[tuple, list] = {}
    for d in dated:
        groups.setdefault((d.task.tier, d.task.task_class), []).append(d.task)
    assert set(found) == set(groups)
    for key, tasks in groups.items():
        same(found[key], totals_of(tasks))
        assert from_totals(found[key]).first_pass == summarise(tasks).first_pass


def test_weekly_totals_match_python_and_add_up(ledger_engine, dated):
    weeks = [week_period(2026, w) for w in range(36, 47)]
    with ledger_engine.connect() as connection:
        weekly = weekly_totals(connection, repo_ids(ledger_engine), weeks)
    for week, found in zip(weeks, weekly, strict=True):
        mine = [d.task for d in dated if d.finished_at and week.start <= d.finished_at < week.end]
        same(found, totals_of(mine))
    finished = [
        d.task for d in dated if d.finished_at and weeks[0].start <= d.finished_at < weeks[-1].end
    ]
    same(sum(weekly, Totals()), totals_of(finished))
    assert sum(w.tasks for w in weekly) == len(finished) > 100
