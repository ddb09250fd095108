"""One figure reads the same on every surface: PR comment, chat, dashboard, audit report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask

from bot.channels import content
from bot.digest.model import Figure
from bot.engine.attribution import attribute
from bot.engine.records import MERGED
from bot.engine.report import Scope, build_report
from bot.pricing.prices import PriceBook
from bot.render.audit import to_html
from bot.render.comment import Revision, build_comment
from tests.scenario import commit, event, pr
from webhooks import dashboard

SPEND = "1234.5"
SHOWN = "$1,234.50"


def test_spend_reads_the_same_on_every_surface():
    commits = [commit("a1", 0, pr=1, tokens=1000, usd=SPEND)]
    prs, events = [pr(1)], [event(MERGED, 10, 1)]
    tasks = attribute(commits, prs, events)

    revision = Revision("abc1234", datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    prices = PriceBook.from_config({"models": {}})
    comment = build_comment(prs[0], tasks, commits, events, {}, prices, revision=revision)
    assert f"spend so far **{SHOWN}**" in comment.summary

    figure = Figure("Spend", Decimal(SPEND), None, "usd", "34 tasks")
    assert content.figure_columns(figure, content.PLAIN)[1] == SHOWN

    app = Flask(__name__)
    app.register_blueprint(dashboard.blueprint)
    assert app.jinja_env.from_string("{{ v | money }}").render(v=Decimal(SPEND)) == SHOWN

    report = build_report(Scope("acme/app", commits_scanned=1), commits, tasks)
    assert f"spend {SHOWN}, cost per shipped task {SHOWN}" in to_html(report)
