"""The digest as text, Markdown and HTML, from ``templates/digest.*.j2``.

One rendering per format: the CLI preview and the e-mail channel (its text and HTML parts) use
these same functions. Every string of a ``Digest`` that is not a number is untrusted (commits,
trailers, pull request titles, configuration): Markdown escapes it with
``bot.render.comment.md``, text drops control characters, HTML is autoescaped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot import DOCS_URL
from bot.digest.compose import change, money, value_text
from bot.digest.model import Digest, Figure, TrendPoint
from bot.render.audit import TEMPLATES
from bot.render.comment import Md, md

_SAFE_URL_RE = re.compile(r"https?://[^\s()<>\[\]\"'`]+")


def coverage_text(f: Figure) -> str:
    return "" if f.coverage is None else f"{f.coverage:.0%} priced"


def interval_text(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f"{bounds[0]:.0%} to {bounds[1]:.0%}"


def safe_url(url: str | None) -> str | None:
    """A URL that cannot break out of a Markdown link or an attribute, else None."""
    return url if url and _SAFE_URL_RE.fullmatch(url) else None


# --------------------------------------------------------------------------- rendering


def render_markdown(digest: Digest) -> str:
    """Markdown (GitHub issue, chat): untrusted strings escaped by ``bot.render.comment.md``."""
    return _render(_MARKDOWN, "digest.md.j2", digest)


def render_text(digest: Digest) -> str:
    """Plain text (terminal, e-mail's text part): control characters removed."""
    return _render(_TEXT, "digest.txt.j2", digest)


def render_html(digest: Digest) -> str:
    """HTML (e-mail, dashboard): autoescaped, with the trend as an inline SVG chart."""
    return _render(_HTML, "digest.html.j2", digest)


def _render(env: Environment, name: str, digest: Digest) -> str:
    return env.get_template(name).render(d=digest, chart=trend_chart(digest.trend),
                                         docs=DOCS_URL)  # fmt: skip


def trend_chart(trend: Sequence[TrendPoint], width: int = 600, height: int = 160) -> dict:
    """Coordinates of the SVG chart: spend as bars (left scale), token yield as a line (0-100%)."""
    top, bottom = 10, height - 20
    step = width / max(len(trend), 1)
    peak = max((p.spend_usd for p in trend), default=Decimal(0)) or Decimal(1)
    bars, points = [], []
    for i, p in enumerate(trend):
        h = float(p.spend_usd / peak) * (bottom - top)
        x = i * step
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(bottom - h, 1),
                "w": round(step * 0.7, 1),
                "h": round(h, 1),
                "week": p.week,
                "spend": money(p.spend_usd),
                "ty": "n/a" if p.token_yield is None else f"{p.token_yield:.0%}",
            }
        )
        if p.token_yield is not None:
            y = bottom - p.token_yield * (bottom - top)
            points.append(f"{x + step / 2:.1f},{y:.1f}")
    return {"width": width, "height": height, "bottom": bottom, "bars": bars,
            "points": " ".join(points), "peak": money(peak)}  # fmt: skip


def _plain(value: Any) -> str:
    """Text for a terminal: no control or format characters (no escape sequences)."""
    return " ".join("".join(ch for ch in str(value) if ch.isprintable()).split())


def _markdown_finalize(value: Any) -> str:
    if isinstance(value, Md):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return md(value)
    return str(value)


def _environment(finalize: Any, autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,  # noqa: S701 - Markdown and text escape through ``finalize``
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(value=value_text, change=change, coverage=coverage_text,
                       money=money, share=lambda v: "n/a" if v is None else f"{v:.0%}",
                       interval=interval_text, safe_url=safe_url,
                       trusted=lambda v: Md(v) if v is not None else None, long=str)  # fmt: skip
    return env


_MARKDOWN = _environment(_markdown_finalize, autoescape=False)
_MARKDOWN.filters["long"] = lambda v: md(v, 1000)  # a recommendation's sentence, escaped
_TEXT = _environment(_plain, autoescape=False)
_HTML = _environment(None, autoescape=True)
