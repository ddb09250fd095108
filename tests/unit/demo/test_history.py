"""The demo's eleven weeks of history: seeded, before the scripted week, stored and attributed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from bot.app import explore
from bot.demo.history import REPO, WEEKS, history, seed_history
from bot.demo.story import INSTALLATION, START
from tests.scenario import load_dataset


def test_the_history_is_the_same_at_every_demo():
    first, second = history(), history()
    assert first.commits == second.commits and first.events == second.events
    assert history(seed=1).commits != first.commits


def test_the_history_fills_the_weeks_before_the_scripted_week():
    ledger = history()
    times = [c.committed_at for c in ledger.commits] + [e.at for e in ledger.events]
    assert START - timedelta(weeks=WEEKS) <= min(times) and max(times) < START
    assert {p.state for p in ledger.pulls} == {"merged", "closed"}
    assert {c.tier for c in ledger.commits} == {"economy", "standard", "frontier"}
    escalated = {c.task for c in ledger.commits if c.attempt and c.attempt > 2}
    assert escalated and all(
        c.tier == "frontier" for c in ledger.commits if c.task in escalated and c.attempt == 3
    )


def test_seeded_history_gives_every_week_and_cell_of_the_dashboard_data(ledger_engine):
    with Session(ledger_engine) as session, session.begin():
        stored = seed_history(session)
    dataset = load_dataset(ledger_engine, INSTALLATION)
    assert dataset.repositories == (REPO,)
    assert stored == len(dataset.dated) == len(history().pulls)
    window = explore.window(dataset, None, WEEKS, START)
    assert window.weeks[-1].label == "2026-W46"  # the week before the scripted one
    trend = explore.overview(dataset, window).trend
    assert all(week.metrics.tasks > 0 for week in trend)
    statuses = {d.task.status for d in dataset.dated}
    assert statuses == {"shipped", "abandoned"}
    assert explore.matrix(dataset, window).advice  # enough history to compare tiers
