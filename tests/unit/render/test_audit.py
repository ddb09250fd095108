"""The audit report's routing section (``yield-auditor audit``): the scorecard, what would
settle each thin cell, the curve, routing against cascading (with time to merge) and the
router's threshold sweep, in JSON, HTML and the terminal, each figure printed by
bot.format."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from statistics import median

import pytest
from rich.console import Console

from bot import format as fmt
from bot.engine.attribution import attribute
from bot.engine.curve import curve
from bot.engine.report import Scope, build_report
from bot.engine.scorecard import routed, scorecard
from bot.engine.sweep import sweep
from bot.local.audit import merge_hours, routing_report
from bot.local.history import Derived
from bot.render.audit import estimate, points, print_table, to_html, to_json
from tests.routing_history import records


@pytest.fixture(scope="module")
def tasks():
    commits, pulls, events = records("acme/app")
    return attribute(commits, pulls, events)


@pytest.fixture(scope="module")
def hours(tasks):
    commits, pulls, events = records("acme/app")
    return merge_hours(tasks, commits, Derived(prs=pulls, events=events))


@pytest.fixture(scope="module")
def report(tasks, hours):
    scope = Scope("app", "HEAD", commits_scanned=len(tasks))
    return {**build_report(scope, [], tasks), "routing": routing_report(tasks, 0, hours)}


def test_the_json_carries_the_engines_figures_and_sentences(report, tasks):
    routing = json.loads(to_json(report))["routing"]
    records_ = routed(sorted(tasks, key=lambda t: t.id))
    expected = scorecard(records_)
    card = routing["scorecard"]
    assert card["sentence"] == expected.sentence() and card["reference"] == "frontier"
    assert card["realised_saving"]["median"] == pytest.approx(expected.realised_saving.median)
    assert [t["sentence"] for t in card["thin"]] == [t.sentence() for t in expected.thin]
    assert routing["curve"]["sentence"] == curve(records_).sentence()
    assert routing["strategies"][0]["tasks"] == len(records_)
    dollars = [routing["strategies"][0]["cost_per_shipped"]["median"],
               *(v["cost_per_task"] for v in routing["curve"]["vertices"])]  # fmt: skip
    assert all(re.fullmatch(r"\d+\.\d{8}", d) for d in dollars)  # as every amount of the report


def test_the_order_of_the_tasks_does_not_change_the_figures(tasks):
    assert routing_report(list(reversed(tasks))) == routing_report(tasks)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_html_and_terminal_show_the_scorecard_and_what_would_settle_it(report):
    card = report["routing"]["scorecard"]
    saving = estimate(card["realised_saving"])
    settle = card["thin"][0]["sentence"]
    html = text_of(to_html(report))
    console = Console(file=io.StringIO(), width=200)
    print_table(report, console)
    terminal = " ".join(console.file.getvalue().split())
    for shown in (html, terminal):
        assert card["sentence"] in shown and saving in shown and settle in shown
        assert fmt.share(card["invoice_saving"]) in shown
        assert report["routing"]["curve"]["sentence"] in shown
        assert "Routing against cascading" in shown
        assert report["routing"]["sweep"]["sentence"] in shown
        assert "time to merge, median" in shown


def test_with_too_little_data_only_the_sentences_are_shown(tasks):
    few = tasks[:20]
    report = {**build_report(Scope("app"), [], few), "routing": routing_report(few)}
    card = report["routing"]["scorecard"]
    assert card["realised_saving"] is None
    html = text_of(to_html(report))
    assert card["sentence"].startswith("Too little data") and card["sentence"] in html
    assert "Routing scorecard against" not in html


def test_estimates_print_with_their_interval_and_points_with_their_sign():
    e = {"median": 0.2274, "low": 0.1622, "high": 0.2829}
    assert estimate(e) == "23% (16% to 28%)"
    assert estimate({"median": 1.5, "low": 1.25, "high": 2}, "usd") == "$1.50 ($1.25 to $2.00)"
    assert points({"median": -0.074, "low": -0.131, "high": 0.021}) == (
        "-7.4 pts (-13.1 pts to +2.1 pts)"
    )
    assert estimate(None) == points(None) == fmt.NOT_APPLICABLE


def test_the_sweep_is_the_engines_over_the_scored_tasks(report, tasks):
    found = json.loads(to_json(report))["routing"]["sweep"]
    expected = sweep(routed(sorted(tasks, key=lambda t: t.id)))
    assert found["sentence"] == expected.sentence() and found["verdict"] == expected.verdict
    assert found["p_better"] == pytest.approx(expected.p_better)
    assert len(found["thresholds"]) == len(expected.thresholds)
    assert [t["sentence"] for t in found["thin"]] == [t.sentence() for t in expected.thin]


def test_time_to_merge_runs_from_the_first_commit_to_the_merge(report, tasks, hours):
    commits, pulls, _ = records("acme/app")
    authored = {c.sha: c.authored_at for c in commits}
    merged_at = {p.number: p.closed_at for p in pulls if p.state == "merged"}
    expected = {
        t.id: (merged_at[t.pr_numbers[0]] - min(authored[s] for s in t.attempts[0].commits))
        .total_seconds() / 3600
        for t in tasks if t.merged and t.pr_numbers
    }  # fmt: skip
    assert hours == pytest.approx(expected) and expected
    [strategy] = report["routing"]["strategies"]
    routed_hours = [expected[t.id] for t in tasks if t.id in expected and t.tier is not None]
    assert strategy["merged_tasks"] == len(routed_hours)
    assert strategy["merge_hours"] == pytest.approx(median(routed_hours))
    assert fmt.hours(strategy["merge_hours"]) in text_of(to_html(report))
