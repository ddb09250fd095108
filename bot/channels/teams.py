"""Microsoft Teams Workflows webhook: an Adaptive Card 1.4 in the message envelope.

The Workflows template "When a Teams webhook request is received" posts
``attachments[0].content``; Office 365 connector MessageCards no longer work. Teams refuses a
message over about 28 KB, so the UTF-8 JSON is kept under 27,000 bytes by shrinking the
section budgets. Untrusted text is backslash-escaped for the card's Markdown subset.
"""

from __future__ import annotations

import re
from typing import Any

from bot.channels import content as c
from bot.channels.base import encode
from bot.channels.http import ChatChannel
from bot.digest.model import Digest

MAX_BYTES = 27_000  # Teams: "about 28 KB" for the whole message
MAX_ROWS = 20  # rows of the tier x task class table
MAX_FACTS = 12
BUDGETS = {"routing": 2500, "attention": 4000, "misroutes": 2500, "advice": 4000, "notes": 1000}
_SPECIAL = re.compile(r"([\\`*_\[\]()~])")
COLUMNS = ("Tier", "Task class", "Shipped", "First-pass", "Token yield", "$/shipped")


def escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


STYLE = c.Style(escape=escape, bold=lambda t: f"**{t}**", link=lambda url, t: f"[{t}]({url})")


def render(digest: Digest) -> dict[str, Any]:
    card = c.fit(lambda scale: _card(digest, scale), lambda p: len(encode(p)), MAX_BYTES)
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return {"type": "message", "attachments": [attachment]}


def _card(digest: Digest, scale: float) -> dict[str, Any]:
    def section(heading: str, lines: list[str], key: str) -> list[dict[str, Any]]:
        shown = c.clip([f"- {line}" for line in lines], int(BUDGETS[key] * scale))
        return [_heading(heading), _block("\n".join(shown) or "None this period.")]

    routing = c.routing_lines(digest, STYLE)
    body = [
        _block(c.title(digest, STYLE), size="Large", weight="Bolder"),
        _block(c.headline(digest, STYLE) or "No headline."),
        *(section(c.ROUTING, routing, "routing") if routing else []),
        _heading("Scorecard vs the previous period"),
        _facts(digest, scale),
        _heading("Tier × task class"),
        _matrix(digest, scale),
        *section(
            "Needs attention", c.lines(digest.attention, c.attention_line, STYLE), "attention"
        ),
        *section("Mis-routes", c.lines(digest.misroutes, c.misroute_line, STYLE), "misroutes"),
        *section("Recommendations", c.lines(digest.advice, c.advice_line, STYLE), "advice"),
        *section("Notes", c.notes(digest, STYLE), "notes"),
        *[_block(line, size="Small", isSubtle=True) for line in c.footer(STYLE)],
    ]
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    url = c.safe_url(digest.dashboard_url)
    if url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Trend and dashboard", "url": url}]
    else:
        body.insert(2, _block(c.trend_line(digest, STYLE), size="Small"))
    return card


def _facts(digest: Digest, scale: float) -> dict[str, Any]:
    count = int(MAX_FACTS * scale)
    figures = digest.scorecard
    shown = figures if len(figures) <= count else figures[: max(count - 1, 0)]
    facts = [dict(zip(("title", "value"), c.figure_text(f, STYLE), strict=True)) for f in shown]
    if len(shown) < len(figures):
        facts.append({"title": "…", "value": c.more(len(figures) - len(shown))})
    return {"type": "FactSet", "facts": facts}


def _matrix(digest: Digest, scale: float) -> dict[str, Any]:
    """A ColumnSet table: one column per measure, one TextBlock per row; a marker row at the end."""
    count = int(MAX_ROWS * scale)
    cells = digest.matrix
    shown = cells if len(cells) <= count else cells[: max(count - 1, 0)]
    rows = [c.cell_columns(cell, STYLE) for cell in shown]
    if len(shown) < len(cells):
        rows.append((c.more(len(cells) - len(shown)), "", "", "", "", ""))
    columns = [
        {
            "type": "Column",
            "width": "auto" if i else "stretch",
            "items": [_block(name, weight="Bolder")] + [_block(row[i] or " ") for row in rows],
        }
        for i, name in enumerate(COLUMNS)
    ]
    return {"type": "ColumnSet", "columns": columns}


def _heading(text: str) -> dict[str, Any]:
    return _block(text, weight="Bolder", spacing="Medium")


def _block(text: str, **options: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **options}


class TeamsChannel(ChatChannel):
    type = "teams"

    def render(self, digest: Digest) -> dict[str, Any]:
        return render(digest)
