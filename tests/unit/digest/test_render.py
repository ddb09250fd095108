"""The digest's renderings (text, Markdown, HTML) and their escaping."""

from __future__ import annotations

import dataclasses

from bot.digest.render import render_html, render_markdown, render_text
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
