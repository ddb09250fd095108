"""Discord webhook: a short ``content`` and up to five embeds within Discord's limits.

Limits: content 2,000 characters; at most 10 embeds; title 256, description 4,096, at most 25
fields (name 256, value 1,024), footer 2,048; all embed text together at most 6,000. Untrusted
text is backslash-escaped for Discord Markdown, ``@`` is defused, and ``allowed_mentions`` is
empty, so a hostile title can neither format nor ping.
"""

from __future__ import annotations

import re
from typing import Any

from bot.channels import content as c
from bot.channels.http import ChatChannel
from bot.digest.model import Digest

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_EMBED_TEXT = 6000
FIGURES = 10  # scorecard fields shown at full scale
BUDGETS = {"routing": 900, "matrix": 1000, "attention": 1000, "misroutes": 500, "advice": 1000,
           "summary": 500}  # fmt: skip
COLOUR = 0x2F855A
_SPECIAL = re.compile(r"([\\`*_~|>#\[\]()<:-])")


def escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text).replace("@", "@\u200b")


STYLE = c.Style(escape=escape, bold=lambda t: f"**{t}**", link=lambda url, t: f"[{t}]({url})")


def render(digest: Digest) -> dict[str, Any]:
    embeds = c.fit(lambda scale: _embeds(digest, scale), embed_text, MAX_EMBED_TEXT)
    return {
        "content": c.headline(digest, STYLE) or c.title(digest, STYLE),
        "embeds": embeds,
        "allowed_mentions": {"parse": []},
    }


def embed_text(embeds: list[dict[str, Any]]) -> int:
    """Characters Discord counts against 6,000: titles, descriptions, fields, footers."""
    total = 0
    for embed in embeds:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return total


def _embeds(digest: Digest, scale: float) -> list[dict[str, Any]]:
    def embed(heading: str, lines: list[str], key: str) -> dict[str, Any]:
        shown = c.clip([f"• {line}" for line in lines], int(BUDGETS[key] * scale))
        return _embed(heading, "\n".join(shown) or "None this period.")

    summary = [*c.notes(digest, STYLE), _trend(digest)]
    shown = c.clip(summary, int(BUDGETS["summary"] * scale))
    first = _embed(c.title(digest, STYLE), "\n".join(shown) or "—")
    first["fields"] = _figures(digest, scale)
    url = c.safe_url(digest.dashboard_url)
    if url:
        first["url"] = url
    last = embed("Recommendations", c.lines(digest.advice, c.advice_line, STYLE), "advice")
    last["footer"] = {"text": " ".join(c.footer(c.PLAIN))}
    routing = c.routing_lines(digest, STYLE)
    return [
        first,
        *([embed(c.ROUTING, routing, "routing")] if routing else []),
        embed("Tier × task class", c.lines(digest.matrix, c.cell_line, STYLE), "matrix"),
        embed("Needs attention", c.lines(digest.attention, c.attention_line, STYLE), "attention"),
        embed("Mis-routes", c.lines(digest.misroutes, c.misroute_line, STYLE), "misroutes"),
        last,
    ]


def _figures(digest: Digest, scale: float) -> list[dict[str, Any]]:
    count = int(FIGURES * scale)
    figures = digest.scorecard
    shown = figures if len(figures) <= count else figures[: max(count - 1, 0)]
    fields = [_field(*c.figure_text(f, STYLE)) for f in shown]
    if len(shown) < len(figures):
        fields.append(_field("…", c.more(len(figures) - len(shown))))
    return fields


def _trend(digest: Digest) -> str:
    url = c.safe_url(digest.dashboard_url)
    if url:
        return f"Trend: {STYLE.link(url, 'token yield and spend, last 12 weeks')}"
    return c.trend_line(digest, STYLE)


def _field(name: str, value: str) -> dict[str, Any]:
    return {"name": name or "—", "value": value or "—", "inline": True}


def _embed(title: str, description: str) -> dict[str, Any]:
    return {"title": title, "description": description, "color": COLOUR}


class DiscordChannel(ChatChannel):
    type = "discord"

    def render(self, digest: Digest) -> dict[str, Any]:
        return render(digest)
