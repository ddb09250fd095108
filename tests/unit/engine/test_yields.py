"""The worked example of docs/metrics.md, figure by figure, computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings

from bot.engine.attribution import BUCKETS, attribute
from bot.engine.yields import BREAKDOWNS, breakdown, calibration, summarise
from tests.scenario import scenario
from tests.unit.engine.test_attribution import histories


@pytest.fixture
def tasks():
    return attribute(*scenario())


def test_worked_example(tasks):
    m = summarise(tasks)
    assert (m.tasks, m.shipped_tasks) == (6, 4)
    # 1500 (A) + 2000 (B's frontier attempt) + 600 (D's surviving lines) + 1000 (F)
    assert m.tokens_total == 8300 and m.tokens_shipped == 5100
    assert m.token_yield == pytest.approx(5100 / 8300)
    assert m.usd_total == Decimal("0.193") and m.usd_shipped == Decimal("0.145")
    assert m.cost_yield == pytest.approx(0.145 / 0.193)
    assert m.cost_per_shipped_task == Decimal("0.193") / 4
    assert m.price_coverage == pytest.approx(7300 / 8300)
    assert {b: s.tokens for b, s in m.waterfall.items()} == {
        "shipped": 5100, "rework": 400, "misroute": 1000, "abandoned": 800, "reverted": 1000,
        "open": 0,
    }  # fmt: skip
    assert (m.first_pass.k, m.first_pass.n) == (2, 6)  # D and F
    assert (m.bounce_rate.k, m.escalation_rate.k) == (4, 1)
    stages = {k: (r.k, r.n) for k, r in m.stage_yields.items()}
    assert stages == {"ci": (1, 3), "review": (1, 1), "merge": (5, 6), "survival": (4, 5)}
    assert m.rolled_throughput_yield == pytest.approx(1 / 3 * 1 * 5 / 6 * 4 / 5)
    assert m.first_pass.low < 2 / 6 < m.first_pass.high


def test_tier_by_class_matrix_attributes_spend_to_the_first_tier(tasks):
    cells = breakdown(tasks, BREAKDOWNS["tier_class"])
    assert set(cells) == {("economy", "bugfix"), ("economy", "feature"), ("frontier", "docs"),
                          ("standard", "bugfix")}  # fmt: skip
    economy_bugfix = cells[("economy", "bugfix")]  # A, B (escalated to frontier) and E
    assert economy_bugfix.tasks == 3 and economy_bugfix.shipped_tasks == 2
    assert economy_bugfix.usd_total == Decimal("0.135")
    assert economy_bugfix.cost_per_shipped_task == Decimal("0.0675")
    assert economy_bugfix.waterfall["misroute"].usd == Decimal("0.01")


def test_dollar_figures_are_withheld_when_mostly_unpriced(tasks):
    standard = breakdown(tasks, BREAKDOWNS["tier_class"])[("standard", "bugfix")]
    assert standard.price_coverage == 0
    assert standard.cost_yield is None and standard.cost_per_shipped_task is None
    assert standard.token_yield == 1.0


def test_empty_group_has_no_figures():
    m = summarise([])
    assert m.token_yield is None and m.cost_per_shipped_task is None
    assert m.first_pass.value is None and m.rolled_throughput_yield is None


def test_calibration_buckets():
    commits, prs, events = scenario()
    from dataclasses import replace

    scored = [replace(c, route_score=0.9 if c.sha == "d1" else 0.1) for c in commits]
    buckets = calibration(attribute(scored, prs, events))
    assert [(r.k, r.n) for _, _, r in buckets] == [(1, 5), (0, 0), (0, 0), (0, 0), (1, 1)]


@settings(max_examples=100, deadline=None)
@given(histories())
def test_yields_are_shares_and_the_waterfall_sums(history):
    m = summarise(attribute(*history))
    for value in (m.token_yield, m.cost_yield, m.rolled_throughput_yield):
        assert value is None or 0 <= value <= 1 + 1e-9
    assert abs(sum(m.waterfall[b].tokens for b in BUCKETS) - m.tokens_total) < 1e-6
    assert sum(m.waterfall[b].usd for b in BUCKETS) == m.usd_total
