"""The scale benchmark at a tiny size: its history loads, its counts add up and every query it
times answers 200 (no timing is asserted; bench/README.md has the figures)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.records import CLOSED, MERGED
from bot.ledger.db import make_engine
from tests.paths import ROOT

PATH = ROOT / "bench" / "scale.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_scale", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


scale = _module()


@given(st.integers(1, 500), st.integers(1, 60), st.integers(0, 10))
def test_repository_sizes_sum_to_the_pull_requests(prs, repos, seed):
    if repos > prs:
        with pytest.raises(scale.BenchError):
            scale.pulls_per_repository(prs, repos, seed)
        return
    sizes = scale.pulls_per_repository(prs, repos, seed)
    assert len(sizes) == repos and sum(sizes) == prs and min(sizes) >= 1


def test_the_history_is_seeded_and_stays_in_its_two_years():
    first = scale.repository_history("scale-org/repo-000", 300, seed=3)
    assert first == scale.repository_history("scale-org/repo-000", 300, seed=3)
    assert first != scale.repository_history("scale-org/repo-000", 300, seed=4)
    start = scale.END - timedelta(weeks=scale.WEEKS)
    assert all(start <= c.committed_at < scale.END for c in first.commits)
    assert all(start <= e.at < scale.END for e in first.events)
    assert [p.number for p in first.pulls] == list(range(1, 301))
    per_pull = {}
    for c in first.commits:
        per_pull[c.pr_number] = per_pull.get(c.pr_number, 0) + 1
    per_pull.pop(None, None)  # reverts, on main
    assert len(per_pull) == 300 and max(per_pull.values()) <= scale.MAX_COMMITS + 1
    states = {p.state for p in first.pulls}
    assert {"merged", "closed"} <= states
    ends = {(e.pr_number, e.kind) for e in first.events if e.kind in (MERGED, CLOSED)}
    assert len(ends) == sum(p.state != "open" for p in first.pulls)


def test_loads_a_tiny_history_and_every_query_answers(postgres_url):
    loaded = scale.load(postgres_url, prs=40, repos=2, seed=5)
    engine = make_engine(postgres_url)
    try:
        rows = {name: count for name, count, _ in scale.table_sizes(engine)}
    finally:
        engine.dispose()
    assert rows["installations"] == 1
    assert rows["repositories"] == loaded.repositories == 2
    assert rows["pull_requests"] == loaded.pull_requests == 40
    assert rows["commits"] == loaded.commits
    assert rows["events"] == loaded.events
    assert rows["tasks"] == loaded.tasks == loaded.agent_pull_requests > 0

    timings = scale.time_queries(postgres_url, runs=1)  # raises BenchError on any answer but 200
    assert len(timings) == 20
    assert all(len(t.runs) == 1 and t.timed_out is None for t in timings)

    schema = sa.make_url(postgres_url).query["options"].removeprefix("-csearch_path=")
    with pytest.raises(scale.BenchError, match="--fresh"):
        scale.prepare_schema(postgres_url, schema, fresh=False)
