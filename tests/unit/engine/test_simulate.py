"""The simulator behind the recommender's proof: seeded, pure, and true to its stated truth."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.report import cells_of
from bot.engine.simulate import (
    SCENARIOS,
    TARGET,
    Arm,
    Scenario,
    current_tier,
    history,
    ladder,
    switch_is_right,
    truth,
)
from bot.stats.rule import DELTA, MIN_SAVING

BY_NAME = {s.name: s for s in SCENARIOS}


def test_the_same_seed_gives_the_same_history():
    scenario = BY_NAME["cheap better"]
    assert history(scenario, 10, 3) == history(scenario, 10, 3)
    assert history(scenario, 10, 3) != history(scenario, 10, 4)


def test_routing_shares_and_cells():
    assert BY_NAME["cheap better"].cells(10) == {"frontier": 40, "economy": 10}
    assert BY_NAME["equal, 95/5"].cells(10) == {"frontier": 190, "economy": 10}
    found = Counter(
        (o.task_class, o.tier) for o in history(BY_NAME["several classes pooled"], 5, 0)
    )
    assert len(found) == 10 and set(found.values()) == {5, 20}


def test_ladder_retries_then_escalates():
    scenario = BY_NAME["equal"]
    assert ladder(scenario, "economy") == ("economy", "economy", "frontier")
    assert ladder(scenario, "frontier") == ("frontier",) * 3


def test_truth_is_exact():
    # Frontier: p = 0.6 at $1 an attempt: ships 1 - 0.4^3, costs 1 + 0.4 + 0.16.
    f = truth(BY_NAME["equal"], TARGET, "frontier")
    assert f.shipped == pytest.approx(0.936, abs=1e-15)
    assert f.cost_per_task == pytest.approx(1.56, abs=1e-15)
    assert f.cost_per_shipped == pytest.approx(1.56 / 0.936, abs=1e-15)


def test_the_scenarios_are_what_their_names_say():
    def saving_and_loss(name):
        s = BY_NAME[name]
        a, b = (truth(s, TARGET, current_tier(s)), truth(s, TARGET, _other(s)))
        return 1 - b.cost_per_shipped / a.cost_per_shipped, a.shipped - b.shipped

    assert saving_and_loss("equal") == (0.0, 0.0)
    assert saving_and_loss("within 2%")[0] == pytest.approx(0.02, abs=1e-4)
    trap = saving_and_loss("quality trap")
    assert trap[0] > 0.4 and trap[1] == pytest.approx(0.075, abs=1e-5)
    assert saving_and_loss("several classes pooled") == trap
    assert saving_and_loss("cheap better")[0] > 0.6
    assert saving_and_loss("frontier better")[0] > 0.25
    right = {s.name for s in SCENARIOS if switch_is_right(s, DELTA, MIN_SAVING)}
    assert right == {"cheap better", "frontier better", "cheap better, 95/5"}


def _other(s):
    return next(t for t in s.tiers if t != current_tier(s))


def test_a_large_history_matches_its_truth():
    # 20000 economy tasks: shipped rate within 4 binomial sd, mean cost within 4 sd (sigma 1).
    s = Scenario("big", ("economy", "frontier"), BY_NAME["quality trap"].arms,
                 {"economy": 0.5, "frontier": 0.5}, unpriced=0.25)  # fmt: skip
    found = [o for o in history(s, 20_000, 1) if o.tier == "economy"]
    t = truth(s, TARGET, "economy")
    shipped = sum(o.shipped for o in found) / len(found)
    assert abs(shipped - t.shipped) < 4 * math.sqrt(t.shipped * (1 - t.shipped) / len(found))
    priced = [float(o.cost) for o in found if o.cost is not None]
    assert len(priced) / len(found) == pytest.approx(0.75, abs=0.02)
    mean = sum(priced) / len(priced)
    assert mean == pytest.approx(t.cost_per_task, rel=4 * 2.0 / math.sqrt(len(priced)))


def test_histories_feed_the_recommender_cells():
    cells = cells_of(history(BY_NAME["cheap better"], 10, 0))
    (economy, frontier) = cells[TARGET]
    assert (economy.tier, economy.n, frontier.tier, frontier.n) == ("economy", 10, "frontier", 40)


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.05, 1.0),
    st.floats(0.01, 5.0),
    st.floats(0.05, 1.0),
    st.floats(0.01, 5.0),
    st.integers(0, 2**32),
)
def test_any_scenario_is_deterministic_and_well_formed(p1, c1, p2, c2, seed):
    s = Scenario("any", ("a", "b"), {"x": {"a": Arm(p1, c1), "b": Arm(p2, c2)}},
                 {"a": 0.8, "b": 0.2})  # fmt: skip
    found = history(s, 3, seed)
    assert found == history(s, 3, seed)
    assert Counter(o.tier for o in found) == {"a": 12, "b": 3}
    assert all(o.cost is None or o.cost > 0 for o in found)
    for tier in ("a", "b"):
        t = truth(s, "x", tier)
        assert 0 < t.shipped <= 1 and t.cost_per_shipped >= t.cost_per_task > 0


def test_bad_scenarios_are_refused():
    arms = {"x": {"a": Arm(0.5, 1.0), "b": Arm(0.5, 1.0)}}
    with pytest.raises(ValueError, match="sum to 1"):
        Scenario("s", ("a", "b"), arms, {"a": 0.5, "b": 0.6})
    with pytest.raises(ValueError, match="arm for each"):
        Scenario("s", ("a", "b", "c"), arms, {"a": 0.5, "b": 0.25, "c": 0.25})
    with pytest.raises(ValueError, match="success probability"):
        Arm(0.0, 1.0)
    with pytest.raises(ValueError, match="mean cost"):
        Arm(0.5, -1.0)
