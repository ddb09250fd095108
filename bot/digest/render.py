"""The digest as text, Markdown and HTML, from ``templates/digest.*.j2``.

One rendering per format: the CLI preview and the e-mail channel (its text and HTML parts) use
these same functions, through the environments of ``bot.render.jinja`` and the figures of
``bot.format``. Every string of a ``Digest`` that is not a number is untrusted (commits,
trailers, pull request titles, configuration): Markdown escapes it with ``bot.render.jinja.md``,
text drops control characters, HTML is autoescaped. A digest is bounded before it is rendered
(``bounded``), so a hostile or huge ledger still makes a message of known size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from bot import DOCS_URL
from bot import format as fmt
from bot.digest.compose import TREND_WEEKS
from bot.digest.model import Digest, Figure, RoutingScorecard, TrendPoint
from bot.render.audit import estimate, points
from bot.render.charts import Point, bar_chart, line_chart
from bot.render.jinja import Md, environment, md, plain, safe_url

MAX_ROWS = {"matrix": 100, "attention": 50, "misroutes": 50, "advice": 30, "notes": 20}
MAX_THIN = 20  # the routing scorecard's thin cells
MAX_CHARS = {"headline": 400, "text": 400, "notes": 400, "title": 120, "task": 120,
             "repository": 120, "reason": 120, "denominator": 120, "sentence": 400,
             "settle": 400}  # fmt: skip
MAX_NAME = 48  # characters of any other untrusted string: a tier, a task class, an account
CHART_WIDTH, CHART_HEIGHT = 600, 160  # e-mail bodies are laid out at 600 px
_URL_FIELDS = {"url", "dashboard_url"}  # checked by safe_url, never clipped


def render_markdown(digest: Digest) -> str:
    """Markdown: untrusted strings escaped by ``bot.render.jinja.md``."""
    return _render(_MARKDOWN, "digest.md.j2", digest)


def render_text(digest: Digest) -> str:
    """Plain text (terminal, e-mail's text part): control characters removed, no chart."""
    return _render(_TEXT, "digest.txt.j2", digest)


def render_html(digest: Digest) -> str:
    """HTML (CLI preview, e-mail's HTML part): autoescaped; the trend as inline SVG charts
    (e-mail clients load no external image and run no script) and as a table."""
    return _render(_HTML, "digest.html.j2", digest, charts=True)


def _render(env: Environment, name: str, digest: Digest, charts: bool = False) -> str:
    shown, rest = bounded(digest)
    extra = {"charts": trend_charts(shown.trend)} if charts else {}
    return env.get_template(name).render(d=shown, rest=rest, docs=DOCS_URL, **extra)


def trend_charts(trend: Sequence[TrendPoint]) -> Markup:
    """Spend per week as bars, token yield as a line: the dashboard's charts at e-mail width."""
    spend = [Point(p.week, p.spend_usd) for p in trend]
    token_yield = [Point(p.week, p.token_yield) for p in trend]
    width, height = CHART_WIDTH, CHART_HEIGHT
    return bar_chart(
        "digest-spend", "Spend per week", spend, unit="usd", width=width, height=height
    ) + line_chart(
        "digest-token-yield", "Token yield", token_yield, unit="share", width=width, height=height
    )


# --------------------------------------------------------------------------- bounds


def bounded(digest: Digest) -> tuple[Digest, dict[str, int]]:
    """The digest within every rendering's bounds, and how many rows each section left out.

    At most ``MAX_ROWS`` rows a section (``MAX_THIN`` thin cells of the routing scorecard)
    and the last ``TREND_WEEKS`` weeks; every untrusted string on one line, without control
    or format characters (bidi overrides), and at most ``MAX_CHARS`` (by field) or
    ``MAX_NAME`` characters: the e-mail stays under the size at which clients clip a message.
    """
    clean = _clean(digest, MAX_NAME)
    rest = {key: max(len(getattr(clean, key)) - n, 0) for key, n in MAX_ROWS.items()}
    cut = {key: getattr(clean, key)[:n] for key, n in MAX_ROWS.items()}
    routing = clean.routing
    if routing is not None:
        rest["thin"] = max(len(routing.thin) - MAX_THIN, 0)
        routing = dataclasses.replace(routing, thin=routing.thin[:MAX_THIN])
    shown = dataclasses.replace(clean, trend=clean.trend[-TREND_WEEKS:], routing=routing, **cut)
    return shown, rest


def _clean(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return plain(value, limit)
    if isinstance(value, tuple):
        return tuple(_clean(item, limit) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if f.name not in _URL_FIELDS]
        return dataclasses.replace(
            value, **{name: _clean(getattr(value, name), MAX_CHARS.get(name, MAX_NAME))
                      for name in fields}
        )  # fmt: skip
    return value


# --------------------------------------------------------------------------- filters


def coverage_text(f: Figure) -> str:
    return "" if f.coverage is None else f"{fmt.share(f.coverage)} priced"


def leak_text(routing: RoutingScorecard) -> str:
    """ "+31 pts: misroute +12 pts, abandoned +19 pts": the leak, then where it went, in
    points of the reference's cost; n/a when the scorecard has no figures."""
    if routing.leak is None:
        return fmt.NOT_APPLICABLE
    where = ", ".join(f"{bucket} {fmt.change(v, 0, 'share')}" for bucket, v in routing.leak_by)
    total = fmt.change(routing.leak, 0, "share")
    return f"{total}: {where}" if where else total


def interval_text(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f"{fmt.share(bounds[0])} to {fmt.share(bounds[1])}"


def _environment(kind: str) -> Environment:
    """``bot.render.jinja``'s environment with the digest's own filters; in Markdown the
    figures' text is trusted (numbers and fixed words) and the long sentences escaped."""
    env = environment(kind)
    trusted = Md if kind == "markdown" else str
    env.filters.update(
        change=lambda f: trusted(fmt.change(f.value, f.previous, f.unit)),
        coverage=lambda f: trusted(coverage_text(f)),
        interval=lambda bounds: trusted(interval_text(bounds)),
        estimate=lambda e: trusted(estimate(e)),
        points=lambda e: trusted(points(e)),
        leak=leak_text,
        safe_url=safe_url,
        trusted=lambda v: Md(v) if v is not None else None,
        long=lambda v: md(v, MAX_CHARS["text"]) if kind == "markdown" else v,
    )
    return env


_MARKDOWN = _environment("markdown")
_TEXT = _environment("text")
_HTML = _environment("html")
