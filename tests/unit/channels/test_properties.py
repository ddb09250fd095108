"""Property: whatever strings a digest holds, every renderer stays within its limits and inert."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels import discord, github_issue, slack, teams
from bot.channels.base import encode
from bot.digest.model import Advice, AttentionItem, Cell, Misroute, Thin
from bot.digest.render import render_html
from tests.receivers import small_digest, strings
from tests.unit.channels.test_chat import (
    assert_discord_limits,
    assert_slack_limits,
    assert_teams_limits,
)
from tests.unit.digest.test_render import routing

text = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["@everyone", "<!here>", "<script>x</script>", "[x](https://e.org)", "**b**", "&amp;"]
)
url = st.none() | text | st.just("https://github.com/o/r/pull/1")


@st.composite
def digests(draw):
    many = st.integers(0, 40)
    return small_digest(
        account=draw(text),
        headline=draw(text),
        matrix=tuple(
            Cell(draw(text), draw(text), 3, 2, 0.5, (0.1, 0.9), None, None)
            for _ in range(draw(many))
        ),
        attention=tuple(
            AttentionItem(draw(text), draw(text), draw(url), Decimal("1.5"), draw(text))
            for _ in range(draw(many))
        ),
        misroutes=tuple(
            Misroute(draw(text), draw(text), draw(url), draw(text), draw(text), Decimal(1))
            for _ in range(draw(st.integers(0, 5)))
        ),
        advice=tuple(
            Advice(draw(text), draw(text), draw(text), draw(text), draw(text))
            for _ in range(draw(st.integers(0, 5)))
        ),
        notes=tuple(draw(st.lists(text, max_size=3))),
        dashboard_url=draw(url),
        routing=draw(
            st.none()
            | st.builds(
                lambda name, thin: routing(
                    reference=name,
                    leak_by=((name, 0.1),),
                    thin=tuple(Thin(t, t, 1, t) for t in thin),
                ),
                text,
                st.lists(text, max_size=30),
            )
        ),
    )


SLACK_MENTION = re.compile(r"@(everyone|here|channel)|<[!@#]")
DISCORD_MENTION = re.compile(r"@(everyone|here)|(?<!\\)<[@#]")


def no_mentions(payload, pattern: re.Pattern[str]) -> None:
    for value in strings(payload):
        assert not pattern.search(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(digests())
def test_every_renderer_stays_within_its_limits_and_defuses_mentions(digest):
    payload = slack.render(digest)
    assert_slack_limits(payload)
    no_mentions(payload["blocks"][1:], SLACK_MENTION)
    payload = teams.render(digest)
    assert_teams_limits(payload)
    payload = discord.render(digest)
    assert_discord_limits(payload)
    no_mentions(payload, DISCORD_MENTION)
    body = github_issue.render(digest)["body"]
    assert len(body) <= github_issue.MAX_BODY
    assert not re.search(r"@(?!\u200b)", body) and "<script" not in body
    html = render_html(digest)  # the e-mail's HTML part
    assert "<script" not in html and "[x](https://e.org)" not in body
    json.loads(encode(payload))
