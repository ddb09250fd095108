"""The digest's reads: the routing scorecard's records straight from the ledger's columns."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.digest.period import period_of
from bot.digest.query import _repository_ids, routed_records
from bot.engine.attribution import attribute
from bot.engine.scorecard import routed
from bot.ledger.store import tasks
from tests.routing_history import records, seed_routed
from tests.scenario import INSTALLATION


def test_routed_records_are_the_records_routed_builds_from_whole_tasks(ledger_engine):
    """Record by record, in the same order: a few columns and the attempts' charges give what
    the engine gives from whole tasks, so the digest's scorecard is the dashboard's."""
    seed_routed(ledger_engine, INSTALLATION, "acme", "acme/app")
    commits, pulls, events = records("acme/app")
    closed = {p.number: p.closed_at for p in pulls}
    now = datetime.now(UTC)
    start, end = period_of("2026-W35", "UTC", now).start, period_of("2026-W46", "UTC", now).end
    tasks = [
        t for t in attribute(commits, pulls, events) if start <= closed[max(t.pr_numbers)] < end
    ]
    expected = routed(sorted(tasks, key=lambda t: t.id))
    with Session(ledger_engine) as session:
        ids = _repository_ids(session, ["acme/app"])
        found = within(session, ids, start, end)
    assert len(expected) > 100 and any(r.escalated for r in expected)
    assert found == expected


def test_routed_records_reads_only_the_window(ledger_engine):
    seed_routed(ledger_engine, INSTALLATION, "acme", "acme/app")
    now = datetime.now(UTC)
    week = period_of("2026-W46", "UTC", now)
    with Session(ledger_engine) as session:
        ids = _repository_ids(session, ["acme/app"])
        one = within(session, ids, week.start, week.end)
        none = within(session, ids, week.end, week.end)
    assert 0 < len(one) < 30 and none == []


def within(session, ids, start, end):
    finished = tasks.c.finished_at
    return routed_records(session.connection(), ids.values(), finished >= start, finished < end)
