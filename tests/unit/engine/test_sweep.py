"""The router's threshold sweep: APGR against a coin, on worked and simulated histories."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from bot.engine.scorecard import Routed
from bot.engine.simulate import PROOF, PROOF_ROUTING, routed_history
from bot.engine.sweep import COIN, area, pgr, sweep, trace

NEED = {"bugfix": 0.75, "feature": 0.5, "docs": 0.25}
"""An informative router's mean score per class of PROOF: bugfix gains the most on frontier
(16 points), feature 10.5, docs nothing."""


def _scored(records: list[Routed], seed: int, informative: bool) -> list[Routed]:
    """Scores from a router that knows each class's need (with noise), or from a coin."""
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation
    found = []
    for r in records:
        need = NEED[r.outcome.task_class] + rng.uniform(-0.25, 0.25)
        found.append(
            replace(r, score=round(min(1.0, max(0.0, need if informative else rng.random())), 2))
        )
    return found


def test_the_worked_example():
    # docs/metrics.md, "The router's threshold sweep": class A gains 40 points on the
    # stronger tier, B nothing; the router scores A's two tasks 0.9 and 0.7, B's 0.5 and 0.3.
    counts = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    share, ship = trace(counts[None] / 4, np.array([[0.5, 0.5]]), np.array([[0.9, 0.5]]))
    assert share[0] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert ship[0] == pytest.approx([0.5, 0.6, 0.7, 0.7, 0.7])
    assert pgr(ship)[0] == pytest.approx([0, 0.5, 1, 1, 1])
    assert area(share, ship)[0] == pytest.approx(0.75)


def test_a_router_that_scores_backwards_has_the_mirror_area():
    counts = np.array([[0, 1], [0, 1], [1, 0], [1, 0]], dtype=float)
    share, ship = trace(counts[None] / 4, np.array([[0.5, 0.5]]), np.array([[0.9, 0.5]]))
    assert area(share, ship)[0] == pytest.approx(0.25)


def test_an_informative_router_beats_a_coin_and_a_random_one_does_not():
    verdicts = {True: [], False: []}
    for seed in range(10):
        history = routed_history(PROOF, PROOF_ROUTING, 150, seed)
        for informative in (True, False):
            found = sweep(_scored(history, seed, informative), draws=1000, seed=seed)
            verdicts[informative].append(found.verdict)
            assert found.apgr.low <= found.apgr.median <= found.apgr.high
    assert verdicts[True] == ["better"] * 10
    assert verdicts[False].count("better") <= 1


def test_the_random_router_sits_on_the_diagonal():
    history = routed_history(PROOF, PROOF_ROUTING, 80, seed=3)
    found = sweep(_scored(history, 3, informative=False), draws=1000, seed=3)
    assert found.apgr.low < COIN < found.apgr.high
    assert "P(APGR > 0.5)" in found.sentence()


def test_thresholds_run_from_all_weak_to_all_strong():
    history = routed_history(PROOF, PROOF_ROUTING, 40, seed=2)
    found = sweep(_scored(history, 2, informative=True), draws=500)
    first, last = found.thresholds[0], found.thresholds[-1]
    assert (found.weak, found.strong) == ("economy", "frontier")
    assert first.score is None and first.share == 0 and first.pgr == 0
    assert last.share == pytest.approx(1) and last.pgr == pytest.approx(1)
    scores = [t.score for t in found.thresholds[1:]]
    assert scores == sorted(scores, reverse=True)
    shares = [t.share for t in found.thresholds]
    assert shares == sorted(shares)
    assert found.tasks == len(history) and found.unscored == 0


def test_the_same_seed_gives_the_same_sweep():
    history = _scored(routed_history(PROOF, PROOF_ROUTING, 40, seed=4), 4, informative=True)
    assert sweep(history, draws=300, seed=7) == sweep(history, draws=300, seed=7)


def test_without_scores_no_number():
    history = routed_history(PROOF, PROOF_ROUTING, 40, seed=1)
    found = sweep(history, draws=300)
    assert found.apgr is None and found.verdict is None and found.tasks == 0
    assert found.unscored == len(history)
    assert "0 finished tasks carry a score (Agent-Route: score=); it needs 30" in found.sentence()


def test_too_few_scored_tasks_no_number():
    history = routed_history(PROOF, PROOF_ROUTING, 40, seed=1)
    few = [replace(r, score=0.5) if i < 12 else r for i, r in enumerate(history)]
    found = sweep(few, draws=300)
    assert found.apgr is None and found.tasks == 12
    assert "12 finished tasks carry a score" in found.sentence()


def test_a_thin_cell_says_what_would_settle_it():
    history = _scored(routed_history(PROOF, PROOF_ROUTING, 5, seed=1), 1, informative=True)
    found = sweep(history, draws=300)
    assert found.apgr is None and found.thin
    assert found.sentence().startswith("No threshold sweep of the router: too little data: ")
    assert "settles it after about" in found.sentence()


def test_one_score_for_every_task_separates_nothing():
    history = routed_history(PROOF, PROOF_ROUTING, 40, seed=1)
    found = sweep([replace(r, score=0.4) for r in history], draws=300)
    assert found.apgr is None and len(found.thresholds) == 2
    assert "every scored task has the same score" in found.sentence()


def test_a_thin_class_is_left_out_and_the_others_swept():
    history = _scored(routed_history(PROOF, PROOF_ROUTING, 40, seed=5), 5, informative=True)
    extra = routed_history(PROOF, PROOF_ROUTING, 1, seed=5)[:3]
    chores = [replace(r, outcome=replace(r.outcome, task_class="chore"), score=0.9) for r in extra]
    found = sweep(history + chores, draws=300)
    assert found.apgr is not None and found.tasks == len(history)
    assert {t.task_class for t in found.thin} == {"chore"}


def test_one_class_is_no_test_of_the_router():
    history = _scored(routed_history(PROOF, PROOF_ROUTING, 40, seed=6), 6, informative=True)
    bugfix = [r for r in history if r.outcome.task_class == "bugfix"]
    found = sweep(bugfix, draws=300)
    assert found.apgr is None and found.classes == ("bugfix",)
    assert "are all bugfix" in found.sentence() and len(found.thresholds) > 2
