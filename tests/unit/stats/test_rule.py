"""The decision rule: switch, keep or explore, with error control, and the best of several tiers.

The bugfix cells are the worked example of the routing-economics reference note (section 3.2).
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stats.posterior import cell_seed, cost_per_shipped, rate, saving_interval, studentised
from bot.stats.rule import Rule, best_tier, enough, recommend
from tests.unit.stats.cells import CHEAP_BUGFIX_COSTS, FRONTIER_BUGFIX_COSTS, cell, split

# --- recommend -------------------------------------------------------------------------------


def bugfix_pair():
    frontier = cell("frontier", 5, 6, FRONTIER_BUGFIX_COSTS)
    cheap = cell("cheap", 5, 7, CHEAP_BUGFIX_COSTS)
    return frontier, cheap


def test_reference_bugfix_example_is_explore():
    frontier, cheap = bugfix_pair()
    rec = recommend(frontier, cheap)
    assert rec.action == "explore"
    assert (rec.from_tier, rec.to_tier) == ("frontier", "cheap")
    assert rec.p_cheaper > 0.99
    assert rec.p_quality < 0.8
    assert rec.explore_share == 0.10
    assert rec.saving_low is None  # 6 and 7 tasks: no honest interval
    assert rec.expected_saving_per_task > 0.8  # about $1.2 saved per shipped fix
    assert "P(cheap saves >= 5%) = 1.000" in rec.reason
    assert "~10%" in rec.reason
    assert rec.current.rate == rate(5, 6)
    assert (rec.candidate.posterior.alpha, rec.candidate.posterior.beta) == (5.5, 2.5)


def clear_pair(n_b=30, k_b=30):
    rng = random.Random(0)
    a = cell("frontier", 23, 30, [round(rng.uniform(0.8, 1.2), 2) for _ in range(30)])
    b_costs = [round(rng.uniform(0.15, 0.25), 2) for _ in range(n_b)]
    b = cell("cheap", k_b, n_b, b_costs)
    return a, b


def test_clear_switch():
    a, b = clear_pair()
    rec = recommend(a, b)
    assert rec.action == "switch"
    assert rec.p_cheaper >= 0.95
    assert rec.p_quality >= 0.95
    assert rec.explore_share == 0.0
    assert rec.saving_low > 0
    assert rec.saving_low <= rec.expected_saving_per_task <= rec.saving_high
    assert rec.reason.startswith("switch: ")


def test_the_saving_interval_is_the_studentised_bootstraps():
    a, b = clear_pair()
    rec = recommend(a, b, draws=500, seed=2)
    interval = saving_interval(studentised(a, 500, 2), studentised(b, 500, 2))
    assert (rec.saving_low, rec.saving_high) == interval
    assert f"90% interval [{interval[0]:.4g}, {interval[1]:.4g}]" in rec.reason


def test_few_tasks_never_switch():
    a, b = clear_pair(n_b=3, k_b=3)
    rec = recommend(a, b)
    assert rec.action == "explore"
    assert rec.p_cheaper > 0.9  # probabilities are still reported
    assert "too few tasks" in rec.reason
    # The current tier needs enough tasks too.
    rec = recommend(b, a)
    assert rec.action == "explore"


def test_enough_needs_min_tasks_on_every_cell():
    a, b = clear_pair(n_b=5, k_b=5)
    assert enough([a, b], Rule())
    assert not enough([a, b], Rule(min_tasks=6))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4), st.data())
def test_never_switch_below_min_tasks(n_b, data):
    k_b = data.draw(st.integers(0, n_b))
    a, _ = clear_pair()
    b = cell("cheap", k_b, n_b, [0.01] * n_b)
    assert recommend(a, b, draws=300).action == "explore"


def test_missing_costs_never_switch():
    a, b = clear_pair()
    b_missing = cell("cheap", 20, 20, [0.2] * 9 + [None] * 11)
    rec = recommend(a, b_missing)
    assert rec.action != "switch"
    assert rec.action == "explore"
    assert rec.p_cheaper is None and rec.expected_saving_per_task is None
    assert rec.p_quality is not None
    assert "never switch without costs" in rec.reason and "coverage 45%" in rec.reason
    assert rec.candidate.cost.withheld and rec.candidate.cost.coverage == 0.45
    a_missing = cell("frontier", 15, 20, [None] * 20)
    rec = recommend(a_missing, b)
    assert rec.action != "switch" and "frontier: withheld" in rec.reason


def test_keep_when_candidate_is_dearer():
    a = cell("cheap", 18, 20, [0.3] * 20)
    b = cell("frontier", 19, 20, [1.5] * 20)
    rec = recommend(a, b)
    assert rec.action == "keep"
    assert rec.p_cheaper <= 0.1
    assert rec.expected_saving_per_task < 0
    assert rec.explore_share == 0.0


def test_keep_when_candidate_is_clearly_worse():
    a = cell("frontier", 19, 20, [1.0] * 20)
    b = cell("cheap", 5, 20, [0.02] * 20)  # cheaper per shipped, far fewer shipped
    rec = recommend(a, b)
    assert rec.p_cheaper >= 0.9
    assert rec.p_quality <= 0.2
    assert rec.action == "keep"
    assert "lower than frontier's" in rec.reason


def test_recommend_is_deterministic_and_seeded_per_cell():
    frontier, cheap = bugfix_pair()
    assert recommend(frontier, cheap, seed=3) == recommend(frontier, cheap, seed=3)
    assert (
        recommend(frontier, cheap, seed=3).p_quality != recommend(frontier, cheap, seed=4).p_quality
    )
    # A cell's draws do not depend on its opponent.
    other = cell("mid", 4, 6, [0.5] * 6)
    assert recommend(frontier, cheap).current == recommend(frontier, other).current
    direct = cost_per_shipped(
        *split(FRONTIER_BUGFIX_COSTS, 5), seed=cell_seed(0, "frontier", "bugfix")
    )
    assert recommend(frontier, cheap).current.cost.median == direct.median


def test_recommend_input_checks():
    frontier, cheap = bugfix_pair()
    with pytest.raises(ValueError, match="same tier"):
        recommend(frontier, frontier)
    with pytest.raises(ValueError, match="different classes"):
        recommend(frontier, cell("cheap", 1, 1, [1.0], task_class="docs"))
    for bad in ({"p_cheaper": 1.5}, {"delta": 1.0}, {"min_saving": -0.1}, {"interval_tasks": -1}):
        with pytest.raises(ValueError):
            Rule(**bad)


def test_a_saving_under_the_minimum_never_switches():
    # 2000 tasks a tier, same quality, the candidate 3% cheaper: surely cheaper, but not by the
    # 5% a switch needs. It is kept; with no minimum it would be a switch.
    a = cell("frontier", 1900, 2000, [1.0] * 2000)
    b = cell("cheap", 1900, 2000, [0.97] * 2000)
    rec = recommend(a, b)
    assert rec.action == "keep" and rec.p_cheaper < 0.05
    assert "does not save 5%" in rec.reason
    assert recommend(a, b, Rule(min_saving=0.0)).action == "switch"


@pytest.mark.parametrize("n_b", [4, 29])
def test_no_saving_interval_under_30_tasks_a_tier(n_b):
    a, b = clear_pair(n_b=n_b, k_b=n_b)
    rec = recommend(a, b)
    assert rec.action == ("explore" if n_b < 5 else "switch")
    assert rec.expected_saving_per_task is not None
    assert (rec.saving_low, rec.saving_high) == (None, None)
    assert "90% interval" not in rec.reason and "no interval under 30 tasks" in rec.reason
    assert recommend(a, b, Rule(interval_tasks=4)).saving_low is not None


# --- best tier ---------------------------------------------------------------------------------


def test_best_tier_picks_the_biggest_saving():
    a, cheap = clear_pair()
    mid = cell("mid", 20, 20, [0.6] * 20)
    rec = best_tier([a, mid, cheap], "frontier")
    assert rec.action == "switch"
    assert rec.to_tier == "cheap"
    assert rec == recommend(a, cheap)


def test_best_tier_explores_toward_the_likeliest_cheaper_tier():
    frontier, cheap = bugfix_pair()
    mid = cell("mid", 3, 4, [0.9, 1.0, 1.1, 1.0])
    rec = best_tier([cheap, frontier, mid], "frontier")
    assert rec.action == "explore"
    assert rec.to_tier == "cheap"


def test_best_tier_keep_and_errors():
    a = cell("cheap", 18, 20, [0.3] * 20)
    b = cell("frontier", 19, 20, [1.5] * 20)
    assert best_tier([a, b], "cheap").action == "keep"
    alone = best_tier([a], "cheap")
    assert (alone.action, alone.to_tier, alone.p_cheaper) == ("keep", "cheap", None)
    with pytest.raises(ValueError, match="no cell for the current tier"):
        best_tier([a], "frontier")
    with pytest.raises(ValueError, match="several classes"):
        best_tier([a, cell("x", 1, 1, [1.0], task_class="docs")], "cheap")


def big_cells(n=20_000):
    rng = random.Random(42)
    cells = []
    for tier, scale in (("cheap", 0.2), ("mid", 0.6), ("frontier", 1.2)):
        k = sum(rng.random() < 0.7 for _ in range(n))
        costs = [Decimal(f"{scale * rng.lognormvariate(0.0, 1.0):.6f}") for _ in range(n)]
        cells.append(cell(tier, k, n, costs))
    return cells


def test_best_tier_on_large_cells():
    """Three cells of 20000 tasks (the normal path; its speed is measured in bench/)."""
    cells = big_cells()
    rec = best_tier(cells, "frontier")
    assert (rec.action, rec.to_tier) == ("switch", "cheap")
    assert rec == best_tier(cells, "frontier")  # reproducible
    assert rec.current.cost.priced == 20_000
