"""The Jinja environments: escaping per output kind, and the figure filters."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from bot.render.jinja import KINDS, TEMPLATES, Md, environment, md, plain


def render(kind: str, source: str, **context) -> str:
    return environment(kind).from_string(source).render(**context)


def test_templates_are_the_projects():
    assert (TEMPLATES / "pr_comment.md.j2").is_file()
    assert environment("html").get_template("audit.html.j2")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_the_figure_filters_under_one_name(kind):
    text = render(kind, "{{ a | money }} {{ b | share }} {{ c | tokens }} {{ d | cost(5) }}",
                  a=Decimal("1234.5"), b=0.634, c=1_234_567, d=Decimal(2))  # fmt: skip
    assert text == "$1,234.50 63% 1.2M $2.00 + 5 unpriced tokens"


@pytest.mark.parametrize("kind", KINDS)
def test_an_undefined_name_raises(kind):
    with pytest.raises(Exception, match="undefined"):
        render(kind, "{{ nothing }}")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        environment("latex")


def test_html_and_svg_escape_and_svg_drops_control_characters():
    hostile = "<script>\x1b[31m & more"
    assert render("html", "{{ t }}", t=hostile) == "&lt;script&gt;\x1b[31m &amp; more"
    assert render("svg", "{{ t }}", t=hostile) == "&lt;script&gt;[31m &amp; more"
    assert render("svg", "{{ t }}", t=Markup("<tspan/>")) == "<tspan/>"


def test_markdown_escapes_text_but_not_figures_or_md():
    source = "{{ t }} {{ n }} {{ m }} {{ a | money }}"
    out = render("markdown", source, t="**x** $y$", n=3, m=Md("**bold**"), a=Decimal("0.5"))
    assert out == "\\*\\*x\\*\\* \\$y\\$ 3 **bold** $0.50"


def test_text_drops_control_characters_and_newlines():
    assert render("text", "{{ t }}", t="a\x1b[2J\nb") == "a[2J b"
    assert plain("a\u202eb\tc") == "ab c"


def test_escaping_neutralises_markdown_and_pings():
    assert md("@user") == "@\u200buser"
    assert md("a\nb\tc") == "a b c"
    assert md("<b>&") == "&lt;b&gt;&amp;"
    assert md("[x](y)") == "\\[x\\]\\(y\\)"
    assert len(md("x" * 1000)) == 160


# GitHub's autolinked references (docs.github.com, "Autolinked references and URLs"): mentions
# and user@sha, #123 and owner/repo#123, GH-123, commit SHAs from 7 hex digits, URLs.
AUTOLINK = re.compile(r"@\w|#[0-9]|(?i:gh)-[0-9]|[0-9A-Fa-f]{7}|://|(?i:www)\.")


@pytest.mark.parametrize(
    "text",
    ["GH-123", "gh-7", "closes GH-42", "acme/app#12", "a5c3785", "jlord@a5c3785ed8d6a35868",
     "jlord/sheetsee.js@a5c3785ed8d6a35868bc169f07e40e889087fd2e", "DEADBEEFCAFE",
     "https://evil.example", "www.evil.example", "@octocat"],
)  # fmt: skip
def test_no_autolinked_reference_survives_escaping(text):
    assert AUTOLINK.search(text)
    assert not AUTOLINK.search(md(text))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="GHgh-#@/:.wW0123456789abcdefxyz _", max_size=80) | st.text(max_size=80))
def test_escaped_text_never_holds_an_autolinked_reference(text):
    assert not AUTOLINK.search(md(text, limit=1000))
