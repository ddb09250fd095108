"""The per-PR cost comment: figures computed by hand, hostile trailers, size, the marker."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app.repo_config import BudgetConfig, CommentConfig
from bot.engine.attribution import attribute
from bot.engine.records import CI_FAILED, MERGED, UsageLine
from bot.pricing.prices import PriceBook
from bot.protocol.usage import Usage
from bot.render import format as fmt
from bot.render.comment import (
    MAX_BODY,
    Revision,
    build_comment,
    check_run_output,
    is_newer,
    parse_marker,
    same_content,
    wanted,
)
from bot.stats.posterior import CellSummary, cost_per_shipped, posterior, rate
from tests.scenario import at, commit, event, pr

# Every model's output costs 5x its input, so the scaled counterfactual is exact too.
PRICES = PriceBook.from_config(
    {
        "models": {
            "claude-haiku-4-5": {"input": 1, "output": 5},
            "claude-sonnet-4-6": {"input": 3, "output": 15},
            "claude-opus-4-5": {"input": 5, "output": 25},
        }
    }
)
HAIKU, OPUS = "claude-haiku-4-5", "claude-opus-4-5"
REV = Revision("abc1234", datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
# b1: haiku, 10k in + 2k out = $0.01 + $0.01; b2: opus, 20k in + 4k out = $0.10 + $0.10.
USAGE = {
    "b1": [Usage(HAIKU, input=10_000, output=2_000)],
    "b2": [Usage(OPUS, input=20_000, output=4_000)],
}
SUMMARY = (
    "**Yield Auditor**: spend so far **$0.22**, token yield **67%**, "
    "economy (claude-haiku-4-5) → frontier (claude-opus-4-5), 2 attempts, 2 bounces"
)


def escalated_pr(**changes):
    """Economy attempt fails CI, a frontier attempt and a human tidy-up merge (PR 2)."""
    commits = [
        commit("b1", 0, pr=2, tokens=12_000, usd="0.02", model=HAIKU),
        commit("b2", 30, pr=2, tier="frontier", tokens=24_000, usd="0.20", model=OPUS),
        commit("h1", 40, pr=2, agent=False, subject="chore: tidy"),
    ]
    commits = [replace(c, **changes) if c.is_agent_work else c for c in commits]
    events = [event(CI_FAILED, 10, 2), event(MERGED, 60, 2)]
    prs = [pr(2)]
    return prs[0], attribute(commits, prs, events), commits, events


def build(pr_=None, tasks=None, commits=None, events=None, evidence=None, **kw):
    if pr_ is None:
        pr_, tasks, commits, events = escalated_pr()
    kw.setdefault("revision", REV)
    return build_comment(pr_, tasks, commits, events, evidence or {}, PRICES, **kw)


def test_summary_timeline_models_and_rework_are_the_hand_computed_figures():
    c = build(usage=USAGE)
    assert c.summary == SUMMARY and c.body.startswith(SUMMARY)
    assert c.spend_usd == Decimal("0.22") and c.bounces == 2
    assert c.token_yield == 24_000 / 36_000
    body = c.body
    assert "| 1 | economy | claude-haiku-4-5 | 1 | 12,000 | $0.02 | CI failed, escalated |" in body
    assert "| 2 | frontier | claude-opus-4-5 | 2 | 24,000 | $0.20 | merged |" in body
    assert "| claude-opus-4-5 | frontier | 24,000 | $0.20 |" in body
    assert "| claude-haiku-4-5 | economy | 12,000 | $0.02 |" in body
    assert "Where the tokens went: shipped 24,000, misroute 12,000." in body
    assert "Signals on this pull request: CI failed ×1." in body
    assert "Agent rework commits: 1; human rework commits: 1" in body
    assert "| h1 | human | chore: tidy |" in body
    assert "- Usage data: 2 of 2 agent commits." in body
    assert "- Price coverage: 100% of the tokens are priced." in body


def test_counterfactual_prices_the_same_tokens_with_each_tiers_model():
    # economy (haiku): b1 10k x $1 + 2k x $5 = $0.02, b2 20k x $1 + 4k x $5 = $0.04 -> $0.06
    # standard (sonnet, the default): 3x haiku -> $0.18; frontier (opus): 5x haiku -> $0.30
    exact = build(usage=USAGE).body
    assert "| economy | claude-haiku-4-5 | used in this PR | $0.06 |" in exact
    assert "| standard | claude-sonnet-4-6 | default | $0.18 |" in exact
    assert "| frontier | claude-opus-4-5 | used in this PR | $0.30 |" in exact
    assert "≈" not in exact
    scaled = build().body  # no token split: cost x price ratio of a 3:1 probe
    assert "| standard | claude-sonnet-4-6 | default | ≈ $0.18 |" in scaled
    assert "| economy | claude-haiku-4-5 | used in this PR | ≈ $0.06 |" in scaled
    chosen = build(usage=USAGE, representatives={"standard": OPUS}).body
    assert "| standard | claude-opus-4-5 | configured | $0.30 |" in chosen


def history_cell(tier, k, n, cost):
    est = cost_per_shipped([cost] * k, [cost] * (n - k), draws=500, prior=(1.0, 1.0))
    return CellSummary(tier, "bugfix", rate(k, n), posterior(k, n, (1.0, 1.0)), est), est


def test_history_shows_cells_with_enough_tasks_and_priced_costs():
    economy, est = history_cell("economy", 3, 6, 0.05)
    standard, _ = history_cell("standard", 2, 2, 0.2)  # too few tasks
    history = {("bugfix", "economy"): economy, ("bugfix", "standard"): standard}
    body = build(history=history).body
    assert "### Expected cost per shipped bugfix task" in body
    median = fmt.money(est.median)
    assert f"| economy | {median} |" in body
    assert "| standard |" not in body.split("### Expected cost")[1].split("###")[0]
    assert "Not enough history" in build(history={}).body
    assert "Expected cost" not in build().body


def test_unpriced_model_is_never_zero_dollars():
    pr_, tasks, commits, events = escalated_pr(usage=(UsageLine("acme:ft", "economy", 500, None),))
    body = build(pr_, tasks, commits, events).body
    assert "spend so far **unpriced**" in body
    assert "- Unpriced models: acme:ft." in body
    assert "$0.0000" not in body


def test_commits_without_usage_are_reported():
    pr_, tasks, commits, events = escalated_pr()
    commits[0] = replace(commits[0], usage=())
    tasks = attribute(commits, [pr_], events)
    body = build(pr_, tasks, commits, events).body
    assert "- Usage data: 1 of 2 agent commits; none for b1." in body


def test_no_comment_without_agent_commits_unless_configured():
    human = [commit("h1", 0, pr=6, agent=False)]
    assert build(pr(6), [], human, []) is None
    quiet = build(pr(6), [], human, [], on_prs_without_agents=True)
    assert "no agent-authored commits among 1 commits" in quiet.body
    assert parse_marker(quiet.body) == REV


# --------------------------------------------------------------------------- safety

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "[link](http://evil.example/x) ![img](https://evil.example/p.png)",
    "@org/team and @user please look",
    "line one\nline two\r\n# heading\n| a | b |",
    "`code` ``` **bold** _it_ ~~s~~ $x$ \\ <!-- --> &lt;script&gt;",
    "www.evil.example mailto:me@evil.example https://evil.example",
    "x" * 100_000,
]


def hostile_pr(text):
    pr_, _, commits, events = escalated_pr(
        model=text, task=text, task_class=text, agent=text, subject=text
    )
    commits = [replace(c, subject=text) for c in commits]
    tasks = attribute(commits, [pr_], events)
    evidence = {c.sha: [{"rule": text, "field": text, "matched": text}] for c in commits}
    return build(pr_, tasks, commits, events, evidence, usage={"b1": [Usage(text, input=5)]})


def assert_inert(body):
    tags = ("<details>", "<summary>", "</summary>", "</details>")
    stripped = re.sub(r"<!-- yield-auditor:pr-comment v1 rev=\{[^<>]*\} -->$", "", body)
    for tag in tags:
        stripped = stripped.replace(tag, "")
    assert "<" not in stripped and ">" not in stripped
    assert not re.search(r"@\w", body)
    assert "](" not in body and "://" not in body and "www." not in body.lower()
    assert len(body) < MAX_BODY
    assert not re.search(r"#\d", body)


def test_hostile_trailers_render_inert():
    for text in HOSTILE:
        c = hostile_pr(text)
        assert_inert(c.body)
        assert c.body.startswith("**Yield Auditor**")
        assert parse_marker(c.body) == REV


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_text_renders_inert(model, text):
    pr_, _, commits, events = escalated_pr(model=model, task=text, task_class=text, agent=text)
    tasks = attribute(commits, [pr_], events)
    evidence = {"b1": [{"rule": text, "field": model, "matched": text}]}
    assert_inert(build(pr_, tasks, commits, events, evidence).body)


# --------------------------------------------------------------------------- size


def big_pr(n):
    """``n`` agent commits, each with long evidence: far over GitHub's limit untruncated."""
    commits = [
        commit(f"c{i:05d}", i, pr=9, tokens=100, usd="0.001", attempt=i + 1) for i in range(n)
    ]
    prs = [pr(9, "open")]
    tasks = attribute(commits, prs, [])
    evidence = {c.sha: [{"rule": "r", "field": "f", "matched": "m" * 150}] * 5 for c in commits}
    return prs[0], tasks, commits, evidence


def test_huge_pull_request_stays_under_the_limit():
    pr_, tasks, commits, evidence = big_pr(2000)
    body = build(pr_, tasks, commits, [], evidence).body
    assert len(body) < MAX_BODY
    assert "1950 more attempts not shown." in body
    assert parse_marker(body) == REV


def test_truncation_drops_details_first_and_keeps_summary_and_marker():
    pr_, tasks, commits, evidence = big_pr(40)
    full = build(pr_, tasks, commits, [], evidence)
    small = build(pr_, tasks, commits, [], evidence, limit=6000)
    assert len(full.body) > 6000 >= len(small.body)
    assert small.body.startswith(full.summary)
    assert "Cut to fit GitHub's size limit: evidence" in small.body
    assert "### Coverage" in small.body
    assert parse_marker(small.body) == REV
    bare = build(pr_, tasks, commits, [], evidence, limit=1000).body
    assert "### Attempts" not in bare and "### Coverage" in bare and "timeline" in bare
    tiny = build(pr_, tasks, commits, [], evidence, limit=300)
    assert tiny.body.startswith(full.summary) and parse_marker(tiny.body) == REV
    assert "Every detail was cut" in tiny.body


# --------------------------------------------------------------------------- marker


def test_marker_round_trip_and_order():
    later = Revision("def5678", REV.event_time + timedelta(seconds=1))
    c = build(revision=later)
    assert c.body.rstrip().endswith("-->")
    assert parse_marker(c.body) == later
    assert is_newer(later, REV) and not is_newer(REV, later) and not is_newer(REV, REV)
    assert parse_marker("no marker") is None
    assert parse_marker('<!-- yield-auditor:pr-comment v1 rev={"head_sha": 1} -->') is None


def test_same_content_ignores_only_the_revision():
    old = build().body
    newer = build(revision=Revision("def5678", at(500))).body
    assert old != newer and same_content(old, newer)
    pr_, tasks, commits, events = escalated_pr()
    changed = build(pr_, tasks, commits, [*events, event(CI_FAILED, 50, 2)]).body
    assert not same_content(old, changed)


def test_revision_rejects_what_could_break_the_marker():
    for sha in ("-->", "ABC1234", "abc"):
        try:
            Revision(sha, REV.event_time)
        except ValueError:
            continue
        raise AssertionError(sha)


# --------------------------------------------------------------------------- check run, modes


def test_check_run_is_neutral_unless_over_budget():
    c = build()
    title, summary, text, conclusion = check_run_output(c, BudgetConfig())
    assert (title, summary, conclusion) == ("Token yield 67%, spend $0.22", SUMMARY, "neutral")
    assert "yield-auditor:pr-comment" not in text and text.startswith(SUMMARY)
    over = BudgetConfig(max_cost_usd=Decimal("0.1"))
    assert check_run_output(c, over)[3] == "failure"
    assert check_run_output(c, over)[0] == "Over budget: spend $0.22 > $0.10"
    gate = BudgetConfig(max_cost_usd=Decimal("0.1"), action="require_action")
    assert check_run_output(c, gate)[3] == "action_required"
    assert check_run_output(c, BudgetConfig(max_cost_usd=Decimal("0.5")))[3] == "neutral"


def test_quiet_mode_waits_for_cost_or_a_bounce():
    c = build()  # two bounces
    calm = replace(c, bounces=0)
    assert wanted(c, CommentConfig(), exists=False)
    assert not wanted(c, CommentConfig(mode="off"), exists=True)
    assert wanted(c, CommentConfig(mode="quiet"), exists=False)
    assert not wanted(calm, CommentConfig(mode="quiet"), exists=False)
    assert wanted(calm, CommentConfig(mode="quiet", quiet_min_cost_usd=Decimal("0.2")), False)
    assert wanted(calm, CommentConfig(mode="quiet"), exists=True)
