"""The weekly digest's composition: figures hand-checked on a two-week ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bot.digest.period import period_of
from bot.digest.query import build_digest
from bot.digest.render import render_text
from bot.engine.attribution import attribute
from bot.engine.scorecard import routed, scorecard
from tests.routing_history import records, seed_routed
from tests.scenario import INSTALLATION, seed


def digest_of(engine, label="2026-W46"):
    with Session(engine) as session:
        return build_digest(session, INSTALLATION, period_of(label, "UTC", datetime.now(UTC)))


# --------------------------------------------------------------------------- figures


def test_scorecard_against_the_previous_week(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine)
    f = {x.name: x for x in d.scorecard}
    assert f["Token yield"].value == pytest.approx(3000 / 4500)
    assert f["Token yield"].previous == pytest.approx(5100 / 8300)
    assert f["Token yield"].denominator == "3,000 of 4,500 tokens shipped"
    assert f["Cost yield"].value == pytest.approx(0.21 / 0.235)
    assert f["Spend"].value == Decimal("0.235") and f["Spend"].previous == Decimal("0.193")
    assert f["Spend"].coverage == 1.0
    assert (f["Shipped tasks"].value, f["Shipped tasks"].previous) == (2, 4)
    assert f["Cost per shipped task"].value == Decimal("0.1175")
    assert f["Cost per shipped task"].previous == Decimal("0.04825")
    assert f["First-pass yield"].value == pytest.approx(1 / 3)
    assert f["First-pass yield"].denominator.startswith("1 of 3 tasks; 95% interval")
    assert f["Bounce rate"].value == pytest.approx(2 / 3)
    assert f["Bounce rate"].previous == pytest.approx(4 / 6)
    assert f["Escalation rate"].value == pytest.approx(1 / 3)
    assert d.headline.endswith(". Token yield 67% (+5 pts); cost per shipped task $0.12")
    assert "1 task still open: counted when they finish" in d.notes


def test_matrix_attention_misroutes_and_trend(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine)
    cells = {(c.tier, c.task_class): c for c in d.matrix}
    assert set(cells) == {("economy", "bugfix"), ("economy", "feature")}
    bugfix = cells["economy", "bugfix"]
    assert (bugfix.tasks, bugfix.shipped_tasks, bugfix.cost_per_shipped_task) == (
        2, 2, Decimal("0.115"))  # fmt: skip
    assert [(a.title, a.usd, a.reason) for a in d.attention] == [
        ("Escalated fix", Decimal("0.22"), "ci_failed, escalated; 1 rework commit"),
        ("acme/app:pr:13", Decimal("0.005"), "abandoned; closed"),
    ]
    assert d.attention[0].url == "https://github.com/acme/app/pull/12"
    [m] = d.misroutes
    assert (m.task, m.from_tier, m.to_tier, m.usd_burned) == (
        "Escalated fix", "economy", "frontier", Decimal("0.02"))  # fmt: skip
    assert len(d.trend) == 12 and d.trend[0].week == "2026-W35"
    assert [(p.week, p.spend_usd) for p in d.trend[-2:]] == [
        ("2026-W45", Decimal("0.193")), ("2026-W46", Decimal("0.235"))]  # fmt: skip
    assert d.trend[-2].token_yield == pytest.approx(5100 / 8300)
    assert all(p.token_yield is None and p.spend_usd == 0 for p in d.trend[:-2])


def test_advice_carries_its_standing(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine)
    assert d.advice, "economy and standard both did bugfixes"
    for a in d.advice:
        assert a.action in ("switch", "keep", "explore") and a.action in a.text


def test_a_week_without_tasks(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine, "2026-W40")
    assert d.headline == "No agent task finished in 2026-W40"
    assert "No agent task finished this week." in render_text(d)


# --------------------------------------------------------------------------- routing scorecard


def test_the_headline_leads_with_what_would_settle_a_thin_scorecard(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine)
    r = d.routing
    assert (r.reference, r.since, r.tasks, r.covered_tasks) == ("frontier", "2026-W35", 9, 0)
    assert r.realised_saving is None and r.invoice_saving is None and r.leak is None
    assert {(t.task_class, t.tier) for t in r.thin} >= {("bugfix", "frontier")}
    assert all(f"{t.task_class} on {t.tier}" in t.settle for t in r.thin)
    lead = f"Too little data yet to say what routing saves against frontier: {len(r.thin)} cells"
    assert d.headline.startswith(lead + " need more tasks. Token yield")


def test_the_routing_scorecard_is_the_engines_over_the_trends_weeks(ledger_engine):
    """16 weeks of history: the digest weighs the 12 of its trend, as the engine does."""
    seed_routed(ledger_engine, INSTALLATION, "acme", "acme/app")
    commits, pulls, events = records("acme/app")
    closed = {p.number: p.closed_at for p in pulls}
    since = period_of("2026-W35", "UTC", datetime.now(UTC)).start
    tasks = [t for t in attribute(commits, pulls, events) if closed[max(t.pr_numbers)] >= since]
    expected = scorecard(routed(sorted(tasks, key=lambda t: t.id)))
    assert expected.realised_saving is not None and expected.tasks < len(pulls)
    r = digest_of(ledger_engine).routing
    assert (r.tasks, r.covered_tasks, r.reference) == (expected.tasks, expected.covered_tasks,
                                                       expected.reference)  # fmt: skip
    assert (r.invoice_saving, r.realised_saving, r.shipped_points, r.leak) == (
        expected.invoice_saving, expected.realised_saving, expected.shipped_points,
        expected.leak)  # fmt: skip
    assert dict(r.leak_by) == expected.leak_by
    assert [t.settle for t in r.thin] == [t.sentence() for t in expected.thin]
    assert digest_of(ledger_engine).headline.startswith(expected.sentence() + " Token yield ")


def test_no_routed_task_no_routing_section(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine, "2026-W40")
    assert d.routing is None and "Does routing pay?" not in render_text(d)
