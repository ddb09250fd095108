"""Tasks, attempts, bounces and the waterfall on the hand-built scenario (docs/metrics.md)."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.attribution import BUCKETS, Params, attribute
from bot.engine.records import CHANGES_REQUESTED, CI_FAILED, CLOSED, MERGED, REOPENED, REVERTED
from tests.scenario import REPO, commit, event, pr, scenario


def tasks_by_pr():
    commits, prs, events = scenario()
    return {t.pr_numbers[0]: t for t in attribute(commits, prs, events)}


def test_only_tasks_with_agent_work():
    tasks = tasks_by_pr()
    assert sorted(tasks) == [1, 2, 3, 4, 5, 7]


def test_retry_on_same_tier_is_a_new_attempt_and_rework():
    a = tasks_by_pr()[1]
    assert [(x.number, x.outcome, x.commits) for x in a.attempts] == [
        (1, "bounced", ("a1",)),
        (2, "shipped", ("a2",)),
    ]
    assert a.bounces == (CI_FAILED,)
    assert a.agent_rework_commits == 1 and not a.first_pass
    assert a.spend["shipped"].tokens == 1500 and a.spend["shipped"].usd == Decimal("0.015")


def test_escalation_is_a_misroute_charged_to_the_first_tier():
    b = tasks_by_pr()[2]
    assert b.tier == "economy" and b.escalated
    assert [a.outcome for a in b.attempts] == ["escalated", "shipped"]
    assert b.bounces == (CI_FAILED, "escalated")
    assert b.spend["misroute"].tokens == 1000 and b.spend["misroute"].usd == Decimal("0.01")
    assert b.spend["shipped"].usd == Decimal("0.10")


def test_closed_without_merge_is_abandoned():
    c = tasks_by_pr()[3]
    assert c.status == "abandoned" and c.bounces == (CLOSED,)
    assert c.spend["abandoned"].tokens == 800
    assert c.task_class == "feature" and c.class_inferred


def test_line_survival_splits_shipped_and_rework():
    d = tasks_by_pr()[4]
    assert d.first_pass and d.ci_first_pass and d.review_first_pass
    assert d.spend["shipped"].tokens == 600 and d.spend["rework"].tokens == 400
    assert d.spend["shipped"].usd == Decimal("0.03") and d.spend["rework"].usd == Decimal("0.02")
    assert d.task_class == "docs"


def test_revert_within_window_ships_nothing():
    e = tasks_by_pr()[5]
    assert e.status == "reverted" and e.merged and e.survived is False
    assert e.bounces == (REVERTED,)
    assert e.spend["reverted"].tokens == 1000


def test_revert_after_window_does_not_count():
    commits, prs, events = scenario()
    late = [replace(e, at=e.at.replace(day=28)) if e.kind == REVERTED else e for e in events]
    tasks = {t.pr_numbers[0]: t for t in attribute(commits, prs, late, Params(window_days=21))}
    assert tasks[5].status == "shipped"


def test_unpriced_usage_is_counted_in_tokens_not_dollars():
    f = tasks_by_pr()[7]
    assert f.first_pass
    assert f.spend["shipped"].tokens == 1000 and f.spend["shipped"].unpriced_tokens == 1000
    assert f.spend["shipped"].usd == 0


def test_agent_task_trailer_joins_pull_requests_and_explicit_attempts():
    commits = [
        commit("x1", 0, pr=10, task="T-9", attempt=1, task_class="Refactor".lower()),
        commit("x2", 50, pr=11, task="T-9", attempt=2, tier="frontier"),
        commit("x3", 60, pr=11),  # no trailer: joins the task of its pull request
        commit("x4", 70, pr=11, agent=False),
    ]
    [task] = attribute(commits, [pr(10, "closed"), pr(11)], [event(MERGED, 80, 11)])
    assert task.id == f"{REPO}:task:T-9" and task.pr_numbers == (10, 11)
    assert [a.commits for a in task.attempts] == [("x1",), ("x2", "x3", "x4")]
    assert task.attempts[0].outcome == "escalated"
    assert task.task_class == "refactor" and not task.class_inferred
    assert task.human_rework_commits == 1


def test_review_and_reopen_bounces():
    commits = [commit("r1", 0, pr=20), commit("r2", 30, pr=20)]
    events = [event(CHANGES_REQUESTED, 10, 20), event(REOPENED, 12, 20), event(MERGED, 40, 20)]
    [task] = attribute(commits, [pr(20)], events)
    assert task.bounces == (CHANGES_REQUESTED, REOPENED)
    assert task.review_first_pass is False and task.ci_first_pass is None


def test_fixup_commits_are_rework():
    commits = [commit("u1", 0, pr=30), commit("u2", 5, pr=30, subject="fixup! fix: a bug")]
    commits[1] = replace(commits[1], is_fixup=True)
    [task] = attribute(commits, [pr(30)], [event(MERGED, 9, 30)])
    assert task.agent_rework_commits == 1 and not task.first_pass


def test_direct_commits_without_pull_request_are_their_own_shipped_tasks():
    tasks = attribute([commit("z1", 0), commit("z2", 5)])
    assert [t.status for t in tasks] == ["shipped", "shipped"]


def test_order_and_duplicates_do_not_matter():
    commits, prs, events = scenario()
    expected = attribute(commits, prs, events)
    rng = random.Random(3)
    for _ in range(5):
        c, p, e = commits * 2, prs[:], events * 2
        rng.shuffle(c), rng.shuffle(p), rng.shuffle(e)
        assert attribute(c, p, e) == expected


@st.composite
def histories(draw):
    n_prs = draw(st.integers(1, 5))
    commits, events = [], []
    for number in range(1, n_prs + 1):
        for i in range(draw(st.integers(1, 4))):
            commits.append(commit(
                f"{number}-{i}", draw(st.integers(0, 500)), pr=number,
                tier=draw(st.sampled_from(["economy", "standard", "frontier"])),
                tokens=draw(st.integers(0, 10_000)),
                usd=draw(st.none() | st.decimals(0, 5, places=4).map(str)),
                agent=draw(st.booleans()), survival=draw(st.none() | st.floats(0, 1)),
                attempt=draw(st.none() | st.integers(1, 3)),
            ))  # fmt: skip
        for kind in draw(
            st.lists(
                st.sampled_from([CI_FAILED, CHANGES_REQUESTED, MERGED, CLOSED, REOPENED]),
                max_size=4,
            )
        ):
            events.append(event(kind, draw(st.integers(0, 600)), number))
    prs = [pr(n, draw(st.sampled_from(["open", "merged", "closed"]))) for n in range(1, n_prs + 1)]
    return commits, prs, events


@settings(max_examples=150, deadline=None)
@given(histories(), st.randoms())
def test_properties(history, rnd):
    commits, prs, events = history
    tasks = attribute(commits, prs, events)
    for task in tasks:
        assert set(task.spend) == set(BUCKETS)
        agent_usage = [c for c in commits if c.is_agent_work and c.pr_number in task.pr_numbers]
        total_tokens = sum(c.tokens for c in agent_usage)
        total_usd = sum((u.usd for c in agent_usage for u in c.usage if u.usd is not None),
                        Decimal(0))  # fmt: skip
        assert abs(sum(s.tokens for s in task.spend.values()) - total_tokens) < 1e-6
        assert sum(s.usd for s in task.spend.values()) == total_usd
        assert all(s.tokens >= -1e-9 and s.usd >= 0 for s in task.spend.values())
        assert sum(a.tokens for a in task.attempts) == total_tokens
    shuffled = commits[:]
    rnd.shuffle(shuffled)
    assert attribute(shuffled + commits[:2], prs, list(reversed(events))) == tasks
