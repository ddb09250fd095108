"""Slack incoming webhook: Block Kit within Slack's limits, with a plain-text fallback.

Limits: at most 50 blocks, header 150 characters, section text 3,000, at most 10 fields of
2,000, and about 13,200 characters across all blocks (``msg_blocks_too_long``): the blocks here
are a fixed dozen, each section has a budget, and the whole is kept under 12,000 characters of
JSON by shrinking the budgets. Untrusted text is escaped for mrkdwn (``&``, ``<``, ``>``, and
a zero-width space after ``@``).
"""

from __future__ import annotations

import json
from typing import Any

from bot.channels import content as c
from bot.channels.http import ChatChannel
from bot.digest.model import Digest

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_TOTAL = 12_000  # characters of the blocks' JSON
BUDGETS = {"routing": 1500, "matrix": 2200, "attention": 1800, "misroutes": 1000, "advice": 1800,
           "notes": 400}  # fmt: skip


def escape(text: str) -> str:
    """Slack's three control characters, and ``@`` defused in case ``link_names`` is on."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u200b")


STYLE = c.Style(escape=escape, bold=lambda t: f"*{t}*", link=lambda url, t: f"<{url}|{t}>")


def render(digest: Digest) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}`` for an incoming webhook."""
    blocks = c.fit(lambda scale: _blocks(digest, scale), _size, MAX_TOTAL)
    return {"text": fallback(digest), "blocks": blocks}


def fallback(digest: Digest) -> str:
    """The notification text: title and headline, plain mrkdwn."""
    return f"{c.title(digest, STYLE)}: {c.headline(digest, STYLE)}"


def _size(blocks: list[dict[str, Any]]) -> int:
    return len(json.dumps(blocks, ensure_ascii=False))


def _blocks(digest: Digest, scale: float) -> list[dict[str, Any]]:
    def section(heading: str, lines: list[str], key: str) -> dict[str, Any]:
        shown = c.clip([f"• {line}" for line in lines], int(BUDGETS[key] * scale))
        return _text(f"*{heading}*\n" + ("\n".join(shown) or "None this period."))

    routing = c.routing_lines(digest, STYLE)
    return [
        {"type": "header", "text": {"type": "plain_text", "text": c.title(digest)[:MAX_HEADER]}},
        _text(c.headline(digest, STYLE) or "No headline."),
        *([section(c.ROUTING, routing, "routing")] if routing else []),
        _scorecard(digest, scale),
        {"type": "divider"},
        section("Tier × task class", c.lines(digest.matrix, c.cell_line, STYLE), "matrix"),
        section("Needs attention", c.lines(digest.attention, c.attention_line, STYLE), "attention"),
        section("Mis-routes", c.lines(digest.misroutes, c.misroute_line, STYLE), "misroutes"),
        section("Recommendations", c.lines(digest.advice, c.advice_line, STYLE), "advice"),
        section("Notes", c.notes(digest, STYLE), "notes"),
        _text(_trend(digest)),
        {"type": "context", "elements": [_mrkdwn(line) for line in c.footer(STYLE)]},
    ]


def _scorecard(digest: Digest, scale: float) -> dict[str, Any]:
    """At most 10 fields: name over value, change and denominator; a marker for the rest."""
    count = int(MAX_FIELDS * scale)
    figures = digest.scorecard
    shown = figures if len(figures) <= count else figures[: max(count - 1, 0)]
    fields = [_mrkdwn("*{}*\n{}".format(*c.figure_text(f, STYLE))) for f in shown]
    if len(shown) < len(figures):
        fields.append(_mrkdwn(c.more(len(figures) - len(shown))))
    block = _text("*Scorecard* vs the previous period")
    return {**block, "fields": fields} if fields else block


def _trend(digest: Digest) -> str:
    url = c.safe_url(digest.dashboard_url)
    if url:
        return f"*Trend*: {STYLE.link(url, 'token yield and spend, last 12 weeks')}"
    return f"*Trend*: {c.trend_line(digest, STYLE)}"


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


class SlackChannel(ChatChannel):
    type = "slack"

    def render(self, digest: Digest) -> dict[str, Any]:
        return render(digest)
