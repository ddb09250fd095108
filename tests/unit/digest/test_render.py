"""The digest's renderings (text, Markdown, HTML) and their escaping."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.digest.render import (
    MAX_CHARS,
    MAX_NAME,
    bounded,
    render_html,
    render_markdown,
    render_text,
)
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
    )
    html = render_html(digest)
    assert "<script" not in html and "\u202e" not in html
    hrefs = set(re.findall(r'href="([^"]*)"', html))
    assert all(h.startswith(("https://", "http://")) and "<" not in h for h in hrefs)
