"""The demo's eleven weeks of history: seeded, before the scripted week, stored and attributed."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from bot.app import explore
from bot.demo.history import REPO, WEEKS, history, seed_history
from bot.demo.story import INSTALLATION, START
from bot.digest.period import period_of
from bot.digest.query import build_digest
from bot.digest.render import render_text
from bot.engine.attribution import attribute
from bot.engine.report import cells_of, outcomes, recommendations
from bot.engine.scorecard import routed, scorecard
from tests.scenario import load_dataset


def seeded_tasks():
    ledger = history()
    return sorted(attribute(ledger.commits, ledger.pulls, ledger.events), key=lambda t: t.id)


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


def test_the_scorecard_of_the_history_says_the_invoice_overstates_the_saving():
    """Routing cut the invoice a lot, the cost per shipped task much less, and the leak is
    mostly mis-routed bugfixes on economy: that class should move to standard."""
    tasks = seeded_tasks()
    card = scorecard(routed(tasks))
    assert set(card.classes) == {"bugfix", "refactor"}
    assert card.invoice_saving >= 0.35
    saving = card.realised_saving
    assert saving.low > 0 and saving.median <= card.invoice_saving / 2
    assert card.leak_by["misroute"] > 0
    cells = {(c.tier, c.task_class): c for c in card.cells}
    economy = cells["economy", "bugfix"]
    assert economy.realised_saving.low < 0 and economy.leak > 0.5  # saved on the invoice only
    bugfix = recommendations(cells_of(outcomes(tasks)))["bugfix"]
    assert (bugfix.action, bugfix.from_tier, bugfix.to_tier) == ("switch", "economy", "standard")
    assert {t.task_class for t in card.thin} >= {"feature", "docs"}  # the demo's week's verdicts


def test_the_demos_digest_leads_with_the_scorecard(ledger_engine):
    with Session(ledger_engine) as session, session.begin():
        seed_history(session)
    with Session(ledger_engine) as session:
        digest = build_digest(session, INSTALLATION, period_of("2026-W46", "UTC", START))
    expected = scorecard(routed(seeded_tasks()))
    assert digest.headline.startswith(expected.sentence() + " Token yield ")
    assert digest.headline.startswith("Routing cut the invoice by 40% against frontier")
    assert digest.routing.realised_saving == expected.realised_saving
    docs = (Path(__file__).resolve().parents[3] / "docs" / "digests.md").read_text()
    example = re.search(r"### Example: the demo's history.*?```text\n(.*?)```", docs, re.S)
    shown = render_text(digest).splitlines()
    assert all(line in shown for line in example[1].splitlines())  # docs/digests.md is true
