"""The digest's renderings (text, Markdown, HTML) and their escaping."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.digest.model import RoutingScorecard, Thin
from bot.digest.render import (
    MAX_CHARS,
    MAX_NAME,
    MAX_THIN,
    bounded,
    render_html,
    render_markdown,
    render_text,
)
from bot.engine.scorecard import Estimate
from bot.render.jinja import MAX_URL
from tests.receivers import huge_digest, small_digest
from tests.scenario import second_week, seed
from tests.unit.digest.test_compose import digest_of


def test_preview_renderings(ledger_engine):
    seed(ledger_engine)
    d = digest_of(ledger_engine)
    text, markdown, html = render_text(d), render_markdown(d), render_html(d)
    assert "Token yield 67% (+5 pts); cost per shipped task $0.12" in text
    assert "Token yield: 67% (+5 pts), 3,000 of 4,500 tokens shipped" in text
    assert "[acme/app: Escalated fix](https://github.com/acme/app/pull/12)" in markdown
    assert "docs/metrics.md" in markdown and "muted" in markdown
    assert (
        "<svg" in html
        and "<polyline" in html
        and 'href="https://github.com/acme/app/pull/12"' in html
    )


HOSTILE = "<script>alert(1)</script> [x](javascript:evil) @org/team | *"


def test_hostile_titles_and_task_classes_are_escaped(ledger_engine):
    commits, prs, events = second_week(title=HOSTILE)
    commits = [dataclasses.replace(c, task_class="<img src=x onerror=alert(1)>|")
               if c.sha == "g1" else c for c in commits]  # fmt: skip
    seed(ledger_engine, weeks=[(commits, prs, events)])
    d = dataclasses.replace(digest_of(ledger_engine), dashboard_url="javascript:alert(1)")
    markdown, html = render_markdown(d), render_html(d)
    for out in (markdown, html):
        assert "<script>" not in out and "<img" not in out
        assert 'href="javascript' not in out
    assert "](javascript" not in markdown
    assert "\\[x\\]\\(javascript:evil\\)" in markdown
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;\\|" in markdown
    assert "@\u200borg" in markdown
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;|" in html
    assert "\x1b" not in render_text(dataclasses.replace(d, headline="\x1b[31mred"))


# --------------------------------------------------------------------------- routing scorecard

SETTLE = "docs on frontier has 3 tasks (too few tasks): sending 10% of docs tasks to frontier"


def routing(**changes) -> RoutingScorecard:
    """A scorecard with its figures, its leak split and one thin cell."""
    values = {
        "sentence": "Routing cut the invoice by 62% against frontier; ...",
        "reference": "frontier",
        "since": "2026-W36",
        "tasks": 1234,
        "covered_tasks": 1200,
        "invoice_saving": 0.62,
        "realised_saving": Estimate(0.31, 0.184, 0.42),
        "shipped_points": Estimate(-0.041, -0.083, 0.002),
        "leak": 0.31,
        "leak_by": (("misroute", 0.12), ("abandoned", 0.19)),
        "thin": (Thin("docs", "frontier", 3, SETTLE),),
    }
    return RoutingScorecard(**{**values, **changes})


ROUTING_FIGURES = (
    "1,200 of 1,234 routed tasks finished since 2026-W36",
    "62%",
    "31% (18% to 42%)",
    "-4.1 pts (-8.3 pts to +0.2 pts)",
    "+31 pts",
    "misroute +12 pts, abandoned +19 pts",
    SETTLE,
)


def test_every_rendering_shows_the_routing_scorecard_first_through_format():
    digest = small_digest(routing=routing())
    for out in (render_text(digest), render_markdown(digest), render_html(digest)):
        assert "Does routing pay?" in out
        assert out.index("Does routing pay?") < out.index("Tier x task class")
        for expected in ROUTING_FIGURES:
            assert expected in out.replace("\\", ""), expected


def test_a_thin_scorecard_shows_what_would_settle_it_and_no_figure():
    thin = routing(invoice_saving=None, realised_saving=None, shipped_points=None, leak=None,
                   leak_by=(), thin=tuple(Thin("docs", f"t{i}", i, f"{SETTLE} {i}")
                                          for i in range(MAX_THIN + 5)))  # fmt: skip
    shown, rest = bounded(small_digest(routing=thin))
    assert len(shown.routing.thin) == MAX_THIN and rest["thin"] == 5
    for out in map(lambda render: render(small_digest(routing=thin)),
                   (render_text, render_markdown, render_html)):  # fmt: skip
        assert "Invoice saving" not in out and "… and 5 more" in out
        assert out.replace("\\", "").count(SETTLE) == MAX_THIN


# --------------------------------------------------------------------------- the trend


def test_the_trend_is_the_dashboards_two_charts_and_a_table():
    weeks = list(small_digest().trend)
    weeks[4] = dataclasses.replace(weeks[4], token_yield=None)  # 2026-W40: nothing finished
    html = render_html(small_digest(trend=tuple(weeks)))
    assert html.count("<svg") == 2 and 'class="chart chart-bar"' in html
    assert '<title id="digest-spend-title">Spend per week</title>' in html
    assert '<title id="digest-token-yield-title">Token yield</title>' in html
    assert "2026-W36 $100.00; 2026-W37 $101.00;" in html  # the desc carries the figures
    assert "2026-W40: no data" in html  # a gap in the line, not a zero
    assert "<tr><td>2026-W40</td><td>n/a</td><td>$104.00</td></tr>" in html
    assert "No history yet." in render_html(small_digest(trend=()))
    assert "<svg" not in render_html(small_digest(trend=()))


def test_text_and_markdown_carry_the_trend_without_a_chart():
    digest = small_digest()
    for out in (render_text(digest), render_markdown(digest)):
        assert "<svg" not in out and "2026-W47" in out and "$111.00" in out


# --------------------------------------------------------------------------- bounds


def test_every_rendering_is_bounded_and_inert():
    """Hundreds of rows of long hostile strings: capped rows, clipped one-line strings."""
    digest = huge_digest()
    shown, rest = bounded(digest)
    assert rest == {"matrix": 300, "attention": 250, "misroutes": 150, "advice": 50, "notes": 0}
    assert all(len(c.tier) <= MAX_NAME and "\n" not in c.tier for c in shown.matrix)
    assert all(len(a.title) <= MAX_CHARS["title"] for a in shown.attention)
    text, markdown, html = render_text(digest), render_markdown(digest), render_html(digest)
    for out in (text, markdown, html):
        assert "… and 300 more" in out and "… and 150 more" in out and "\u202e" not in out
        assert len(out) < 150_000  # Gmail clips a message over 102 KB; this one is hostile
    assert "<script" not in markdown and "<script" not in html


def test_unsafe_urls_are_neither_linked_nor_printed():
    digest = small_digest(dashboard_url="javascript:alert(1)")
    long = "https://github.com/o/r/pull/" + "1" * MAX_URL
    digest = dataclasses.replace(
        digest, attention=(dataclasses.replace(digest.attention[0], url=long),)
    )
    for out in (render_text(digest), render_markdown(digest), render_html(digest)):
        assert "javascript" not in out and long not in out


text = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["<script>x</script>", "javascript:alert(1)", "\u202eevil", "[x](https://e.org)", "&amp;"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account=text, headline=text, title=text, tier=text, note=text, url=st.none() | text)
def test_whatever_the_strings_html_stays_inert(account, headline, title, tier, note, url):
    base = small_digest()
    digest = small_digest(
        account=account,
        headline=headline,
        matrix=(dataclasses.replace(base.matrix[0], tier=tier),),
        attention=(dataclasses.replace(base.attention[0], title=title, url=url),),
        notes=(note,),
        dashboard_url=url,
        routing=routing(reference=tier, thin=(Thin(tier, tier, 1, note),)),
    )
    html = render_html(digest)
    assert "<script" not in html and "\u202e" not in html
    hrefs = set(re.findall(r'href="([^"]*)"', html))
    assert all(h.startswith(("https://", "http://")) and "<" not in h for h in hrefs)
