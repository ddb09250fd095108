"""The weekly digest's composition: figures hand-checked on a two-week ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bot.digest.period import period_of
from bot.digest.query import build_digest
from bot.digest.render import render_text
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
    assert d.headline == "Token yield 67% (+5 pts); cost per shipped task $0.12"
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
