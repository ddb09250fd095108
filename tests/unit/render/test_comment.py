"""The per-PR cost comment: the verdicts and figures computed by hand, the compact layout as a
reviewer sees it (rendered to HTML), hostile trailers, size, the marker."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bot.app.repo_config import BudgetConfig, CommentConfig
from bot.engine.attribution import attribute
from bot.engine.records import CI_FAILED, MERGED, REVERTED, UsageLine
from bot.engine.report import Outcome
from bot.engine.verdict import INSTALLATION, history_of
from bot.pricing.prices import PriceBook
from bot.protocol.usage import Usage
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
SUMMARY = "**Yield Auditor**: spend so far **$0.22**, token yield **67%**, 2 attempts, 2 bounces"
# economy's attempt ($0.02) was superseded: 10% of the $0.20 frontier's attempt cost
VERDICT = (
    "**Mis-routed**: starting on economy cost $0.02 (10%) more than going straight to frontier, "
    "the tier that shipped it."
)
OWN = (
    "- This pull request: 1 superseded attempt from economy cost $0.02; frontier's 1 attempt "
    "cost $0.20."
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


def test_verdict_first_then_figures_timeline_models_and_rework_computed_by_hand():
    c = build(usage=USAGE)
    assert c.verdict == VERDICT and c.body.startswith(f"{VERDICT}\n\n{OWN}\n\n{SUMMARY}\n")
    assert c.summary == SUMMARY
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


def test_the_invoices_view_prices_the_same_tokens_with_each_tiers_model():
    # economy (haiku): b1 10k x $1 + 2k x $5 = $0.02, b2 20k x $1 + 4k x $5 = $0.04 -> $0.06
    # standard (sonnet, the default): 3x haiku -> $0.18; frontier (opus): 5x haiku -> $0.30
    exact = build(usage=USAGE).body
    assert "### The invoice's view: the same usage priced on each tier" in exact
    assert "| economy | claude-haiku-4-5 | used in this PR | $0.06 |" in exact
    assert "| standard | claude-sonnet-4-6 | default | $0.18 |" in exact
    assert "| frontier | claude-opus-4-5 | used in this PR | $0.30 |" in exact
    assert "≈" not in exact
    scaled = build().body  # no token split: cost x price ratio of a 3:1 probe
    assert "| standard | claude-sonnet-4-6 | default | ≈ $0.18 |" in scaled
    assert "| economy | claude-haiku-4-5 | used in this PR | ≈ $0.06 |" in scaled
    chosen = build(usage=USAGE, representatives={"standard": OPUS}).body
    assert "| standard | claude-opus-4-5 | configured | $0.30 |" in chosen


def outcomes(tier, shipped, failed, cost, task_class="bugfix"):
    return [Outcome(task_class, tier, True, Decimal(cost))] * shipped + [
        Outcome(task_class, tier, False, Decimal(cost))
    ] * failed


def test_history_shows_tiers_from_five_tasks_and_weighs_them_from_thirty():
    # economy: 3 of 6 bugfix tasks shipped at $0.05 each; frontier: 30 of 30 at $0.25 each;
    # standard: 4 tasks, too few to show
    cells = [*outcomes("economy", 3, 3, "0.05"), *outcomes("frontier", 30, 0, "0.25"),
             *outcomes("standard", 4, 0, "0.10")]  # fmt: skip
    history = history_of(cells, {"bugfix"}, INSTALLATION)
    c = build(history=history)
    economy = history.cells[("bugfix", "economy")]
    assert (economy.n, economy.k) == (6, 3)
    # $0.05 / theta with theta's median 0.5; $0.25 / theta with theta's median 0.99
    # (docs/comment.md, worked example: the same line)
    assert c.body.split("\n")[3] == (
        "- History (all repositories of this installation): expected cost per shipped bugfix "
        "task economy $0.10 ($0.063 to $0.24, 6 tasks), frontier $0.25 ($0.25 to $0.27, "
        "30 tasks)."
    )
    table = c.body.split("### Expected cost per shipped bugfix task")[1].split("###")[0]
    assert "(history of all repositories of this installation)" in table
    assert "| economy | $0.10 |" in table and "| 50% | 6 | not yet |" in table
    assert "| 100% | 30 | yes |" in table and "| standard |" not in table
    assert "fewer than 5 finished bugfix tasks" in build(history=history_of([], {"bugfix"})).body
    assert "Expected cost" not in build().body and "History" not in build().body


def docs_pr(usd="0.04", tier="economy", model=HAIKU, state="merged", events=None):
    """PR 3: one docs commit; merged at minute 30 unless ``events`` say otherwise."""
    commits = [commit("d1", 0, pr=3, tier=tier, usd=usd, model=model, task_class="docs")]
    events = [event(MERGED, 30, 3)] if events is None else events
    prs = [pr(3, state)]
    return prs[0], attribute(commits, prs, events), commits, events


def docs_history(tier, shipped, failed, cost):
    return history_of(outcomes(tier, shipped, failed, cost, "docs"), {"docs"}, draws=2000)


def verdict_of(*args, history=None, **kw):
    return build(*docs_pr(*args, **kw), history=history).verdict


def test_each_verdict_in_words_with_figures_worked_by_hand():
    assert verdict_of() == (
        "**Routing paid**: economy shipped it first time for $0.04, on the cheapest tier: "
        "nothing was superseded and no tier costs less."
    )
    # standard: 30 of 30 docs tasks at $0.20: about $0.20 / 0.99 = $0.202 per shipped task
    paid = verdict_of(history=docs_history("standard", 30, 0, "0.20"))
    assert paid == (
        "**Routing paid**: economy shipped it first time for $0.04, about $0.16 less than the "
        "standard tier's expected cost for a docs task."
    )
    # economy: 30 of 30 at $0.05, about $0.0504: frontier's $0.30 is $0.25 more
    dear = verdict_of("0.30", "frontier", OPUS, history=docs_history("economy", 30, 0, "0.05"))
    assert dear == (
        "**Mis-routed**: frontier shipped it first time for $0.30, about $0.25 more than the "
        "economy tier's expected cost for a docs task."
    )
    # standard: 20 of 30 at $0.10: $0.10 / theta with theta in about [0.52, 0.80]
    within = verdict_of("0.15", history=docs_history("standard", 20, 10, "0.10"))
    assert within.startswith(
        "**Too early to tell**: economy shipped it first time for $0.15, within the standard "
        "tier's expected cost for a docs task ($0.1"
    )
    assert within.endswith(" to $0.19).")


def test_open_abandoned_reverted_and_thin_verdicts():
    opened = verdict_of(state="open", events=[])
    assert opened == ("**Too early to tell**: the task is still open, $0.04 so far over 1 attempt.")
    closed = verdict_of(state="closed", events=[event(CI_FAILED, 5, 3)])
    assert closed == "**Abandoned**: 1 attempt cost $0.04 and shipped nothing."
    undone = verdict_of(events=[event(MERGED, 5, 3), event(REVERTED, 90, sha="d1")])
    assert undone == (
        "**Reverted**: economy shipped it for $0.04, then the merged work was reverted."
    )
    thin = verdict_of("0.30", "frontier", OPUS, history=docs_history("economy", 6, 0, "0.05"))
    assert thin == (
        "**Too early to tell**: frontier shipped it first time for $0.30; history has 6 docs "
        "tasks on economy, 30 needed: sending 10% of docs tasks there settles it after about "
        "240 more."  # 24 more tasks at a 10% explore share
    )


def test_the_compact_layout_stays_short_for_a_reviewer():
    """Markdown to HTML as GitHub renders it: outside <details>, at most 15 lines show."""
    pr_, tasks, commits, events = escalated_pr()
    cells = [*outcomes("economy", 3, 3, "0.05"), *outcomes("frontier", 6, 0, "0.25")]
    c = build(pr_, tasks, commits, events, history=history_of(cells, {"bugfix"}), usage=USAGE)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(c.body)
    outside = re.sub(r"(?s)<details>.*</details>", "<summary>folded</summary>", html)
    shown = re.findall(r"<(p|li|tr|h\d|summary)\b", outside)
    assert len(shown) <= 15, shown
    assert html.startswith("<p><strong>Mis-routed</strong>: starting on economy")
    assert "<h3>Attempts</h3>" in outside and "The invoice" not in outside
    full = build(pr_, tasks, commits, events, usage=USAGE, layout="full").body
    assert "<details><summary>The task" not in full and "### The invoice's view" in full


def test_the_task_page_is_linked_when_the_app_knows_it():
    url = "https://yield.example.com/installations/7/tasks/acme/app/pr:2"
    c = build(task_url=url)
    assert f"{SUMMARY} · [Task page on the dashboard]({url})" in c.body
    assert "](" not in build().body
    for unsafe in ("javascript:alert(1)", "https://x.example/a)b", "https://x.example/ x"):
        assert "](" not in build(task_url=unsafe).body


def test_unpriced_model_is_never_zero_dollars():
    pr_, tasks, commits, events = escalated_pr(usage=(UsageLine("acme:ft", "economy", 500, None),))
    body = build(pr_, tasks, commits, events).body
    assert "spend so far **unpriced**" in body
    assert "- Unpriced models: acme:ft." in body
    assert "$0.0000" not in body
    # every token is unpriced: the superseded attempt is named so, with no dollars nor share
    assert body.startswith(
        "**Mis-routed**: starting on economy added unpriced attempts before frontier shipped it."
    )
    assert "1 superseded attempt from economy cost unpriced; frontier's" in body


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
        assert c.body.startswith("**Mis-routed**")
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
    assert small.body.startswith(full.verdict)
    assert "Cut to fit GitHub's size limit: evidence" in small.body
    assert "### Coverage" in small.body
    assert parse_marker(small.body) == REV
    bare = build(pr_, tasks, commits, [], evidence, limit=1000).body
    assert "### Attempts" not in bare and "### Coverage" in bare and "timeline" in bare
    tiny = build(pr_, tasks, commits, [], evidence, limit=300)
    assert tiny.body.startswith(full.verdict) and full.summary in tiny.body
    assert parse_marker(tiny.body) == REV
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
    assert (title, conclusion) == ("Token yield 67%, spend $0.22", "neutral")
    assert summary == f"{VERDICT}\n\n{SUMMARY}"
    assert "yield-auditor:pr-comment" not in text and text.startswith(VERDICT)
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
