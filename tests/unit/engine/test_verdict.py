"""The PR comment's verdict, each kind on a task and a history whose figures are worked by hand.

A cell of n tasks that all cost c, k of them shipped, has cost per shipped task c / theta
(the failed and shipped means are both c), so its median and interval are c over the Beta
posterior's quantiles of theta, reversed: 30 of 30 shipped puts theta in about [0.94, 1.0]
and the cost in [c, 1.07 c]; 20 of 30 puts theta in [0.52, 0.79] and the cost in
[1.27 c, 1.9 c], median about 1.5 c.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.engine.attribution import attribute
from bot.engine.records import CI_FAILED, MERGED, REVERTED
from bot.engine.report import Outcome
from bot.engine.verdict import (
    ABANDONED,
    INSTALLATION,
    MISROUTED,
    PAID,
    TOO_EARLY,
    History,
    history_of,
    too_little,
    verdict,
)
from bot.engine.verdict import REVERTED as REVERTED_KIND
from tests.scenario import commit, event, pr

TIERS = ("economy", "standard", "frontier")
OPUS = "claude-opus-4-5"


def cell(tier, shipped, failed, cost, task_class="docs"):
    """``shipped`` + ``failed`` finished tasks of ``task_class`` on ``tier``, each ``cost``."""
    return [Outcome(task_class, tier, True, Decimal(cost))] * shipped + [
        Outcome(task_class, tier, False, Decimal(cost))
    ] * failed


def history(*cells, task_class="docs"):
    return history_of([o for c in cells for o in c], {task_class}, draws=2000)


NONE = History({})


def one_task(commits, events, state="merged"):
    (task,) = attribute(commits, [pr(1, state)], events)
    return task


def shipped_first_time(tier="economy", usd="0.04", model="claude-haiku-4-5"):
    merged = [event(MERGED, 30, 1)]
    docs = commit("d1", 0, pr=1, tier=tier, usd=usd, model=model, task_class="docs")
    return one_task([docs], merged)


def escalated():
    """Economy fails CI ($0.02), frontier ships ($0.20)."""
    commits = [
        commit("b1", 0, pr=1, usd="0.02"),
        commit("b2", 30, pr=1, tier="frontier", usd="0.20", model=OPUS),
    ]
    return one_task(commits, [event(CI_FAILED, 10, 1), event(MERGED, 60, 1)])


def test_an_escalation_is_misrouted_by_the_pull_requests_own_counterfactual():
    v = verdict(escalated(), NONE, TIERS)
    assert v.kind == MISROUTED and v.against is None
    own = v.own
    assert (own.first_tier, own.superseded, own.superseded_usd) == ("economy", 1, Decimal("0.02"))
    assert (own.last_tier, own.last, own.last_usd) == ("frontier", 1, Decimal("0.20"))
    assert own.extra == pytest.approx(0.1)  # $0.02 more than the $0.20 of going straight
    assert v.cost == Decimal("0.22") and v.tier == "frontier" and not v.first_time


def test_the_escalations_verdict_names_the_shipping_tiers_history():
    frontier = cell("frontier", 30, 0, "0.25", "bugfix")
    v = verdict(escalated(), history(frontier, task_class="bugfix"), TIERS)
    assert v.kind == MISROUTED and v.against.tier == "frontier"
    assert 0.25 <= v.against.cost.median <= 0.26


def test_the_cheapest_tier_shipping_first_time_pays_without_history():
    v = verdict(shipped_first_time(), NONE, TIERS)
    assert (v.kind, v.first_time, v.cheapest, v.against) == (PAID, True, True, None)
    assert v.own.superseded == 0 and v.own.last_usd == Decimal("0.04")


def test_routing_paid_when_every_settled_tier_is_clearly_dearer():
    # standard: $0.20 a task, 30 of 30 shipped: expected $0.20 to $0.21 per shipped task
    v = verdict(shipped_first_time(), history(cell("standard", 30, 0, "0.20")), TIERS)
    assert v.kind == PAID and v.against.tier == "standard"
    assert 0.20 <= v.against.cost.low < v.against.cost.median <= 0.21


def test_misrouted_when_a_settled_tier_is_clearly_cheaper():
    # frontier shipped it first time for $0.30; economy ships docs at about $0.05
    task = shipped_first_time("frontier", "0.30", OPUS)
    v = verdict(task, history(cell("economy", 30, 0, "0.05")), TIERS)
    assert v.kind == MISROUTED and v.against.tier == "economy" and v.own.superseded == 0
    assert v.against.cost.high < 0.06


def test_too_early_when_the_cost_is_within_a_tiers_interval():
    # standard: 20 of 30 shipped at $0.10: expected about $0.15 ($0.127 to $0.19)
    task = shipped_first_time(usd="0.15")
    v = verdict(task, history(cell("standard", 20, 10, "0.10")), TIERS)
    assert v.kind == TOO_EARLY and v.against.tier == "standard"
    assert v.against.cost.low < 0.15 < v.against.cost.high


def test_too_early_when_history_is_thin_says_what_would_settle_it():
    # economy shipped after a bounce: not first time; standard has 6 tasks, frontier none
    commits = [commit(sha, t, pr=1, usd=usd, task_class="docs")
               for sha, t, usd in (("e1", 0, "0.04"), ("e2", 20, "0.01"))]  # fmt: skip
    task = one_task(commits, [event(CI_FAILED, 10, 1), event(MERGED, 40, 1)])
    v = verdict(task, history(cell("standard", 6, 0, "0.20")), TIERS)
    assert v.kind == TOO_EARLY and v.against is None and not v.first_time
    assert [(t.tier, t.n, t.more) for t in v.thin] == [("standard", 6, 24), ("frontier", 0, 30)]
    (shown,) = v.expected  # shown from 5 tasks, but too few to weigh
    assert (shown.tier, shown.tasks, shown.shipped, shown.settled) == ("standard", 6, 6, False)


def test_open_abandoned_and_reverted_tasks():
    opened = one_task([commit("o1", 0, pr=1)], [], state="open")
    assert verdict(opened, NONE, TIERS).kind == TOO_EARLY
    closed = one_task([commit("c1", 0, pr=1)], [event(CI_FAILED, 5, 1)], state="closed")
    assert verdict(closed, NONE, TIERS).kind == ABANDONED
    undone = one_task([commit("r1", 0, pr=1)], [event(MERGED, 5, 1), event(REVERTED, 90, sha="r1")])
    assert verdict(undone, NONE, TIERS).kind == REVERTED_KIND


def test_a_mostly_unpriced_task_is_too_early():
    task = one_task([commit("u1", 0, pr=1, usd=None)], [event(MERGED, 5, 1)])
    assert task.attempts[0].unpriced_tokens == 1000
    v = verdict(task, history(cell("standard", 30, 0, "0.20")), TIERS)
    assert v.kind == TOO_EARLY and v.cost is None
    assert v.own.last_unpriced == 1000 and v.own.extra is None  # no share of a lower bound


def test_too_little_history_needs_two_tiers_with_five_tasks():
    one_tier = history(cell("economy", 9, 0, "0.05"))
    assert too_little(one_tier, "docs")
    two = history(cell("economy", 5, 0, "0.05"), cell("standard", 4, 1, "0.2"))
    assert not too_little(two, "docs") and too_little(two, "bugfix")
    other_class = history_of(cell("economy", 9, 0, "0.05", "test"), {"docs"}, INSTALLATION)
    assert other_class.cells == {} and other_class.scope == INSTALLATION
    both = history_of([*cell("economy", 5, 0, "0.05"), *cell("economy", 5, 0, "0.05", "test")],
                      {"docs", "test"})  # fmt: skip
    assert sorted(both.cells) == [("docs", "economy"), ("test", "economy")]
