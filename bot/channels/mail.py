"""E-mail over SMTP: multipart/alternative, plain text and autoescaped HTML with an inline SVG
trend chart (token yield and spend, last 12 weeks).

``security`` is ``starttls`` (default, port 587), ``ssl`` (port 465) or ``none`` (port 25, for
a relay on localhost); with ``starttls`` a server that does not offer it is an error, never a
silent downgrade. Transient failures (4xx replies, dropped connections) are retried with
backoff; a 5xx reply is final. The password is a secret: registered, never in a message.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup, escape

from bot.channels import content as c
from bot.channels.base import Channel, ChannelError, Spec
from bot.digest.model import Digest

logger = logging.getLogger(__name__)
SECURITY = {"starttls": 587, "ssl": 465, "none": 25}
TIMEOUT_SECONDS = 30.0
MAX_SUBJECT = 200
MAX_ROWS = {"matrix": 100, "attention": 50, "misroutes": 50, "advice": 30, "notes": 20}
CHART = {"width": 600, "height": 160, "pad": 24}
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
# For the footer only: fixed text with links, passed to the template as markup.
_FOOTER_STYLE = c.Style(
    escape=escape, link=lambda url, label: f'<a href="{escape(url)}">{label}</a>'
)
_PERMANENT = (smtplib.SMTPNotSupportedError, smtplib.SMTPRecipientsRefused)

_HTML = Environment(autoescape=True, undefined=StrictUndefined).from_string(
    """<!doctype html>
<html><body style="font-family: sans-serif; color: #1a202c">
<h2>{{ title }}</h2>
<p><strong>{{ headline }}</strong></p>
<h3>Scorecard vs the previous period</h3>
<table cellpadding="4" border="1" style="border-collapse: collapse">
<tr>{% for name in scorecard_columns %}<th>{{ name }}</th>{% endfor %}</tr>
{% for row in scorecard %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h3>Token yield and spend, last 12 weeks</h3>
{{ chart }}
{% if dashboard %}<p><a href="{{ dashboard }}">Open the dashboard</a></p>{% endif %}
<h3>Tier × task class</h3>
<table cellpadding="4" border="1" style="border-collapse: collapse">
<tr>{% for name in matrix_columns %}<th>{{ name }}</th>{% endfor %}</tr>
{% for row in matrix %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% for heading, items in lists %}<h3>{{ heading }}</h3>
<ul>{% for text, url in items %}
<li>{% if url %}<a href="{{ url }}">{{ text }}</a>{% else %}{{ text }}{% endif %}</li>
{% endfor %}</ul>
{% endfor %}<hr>
{% for line in footer %}<p style="font-size: small; color: #4a5568">{{ line }}</p>{% endfor %}
</body></html>
"""
)
_CHART = Environment(autoescape=True, undefined=StrictUndefined).from_string(
    """<svg xmlns="http://www.w3.org/2000/svg" width="{{ w }}" height="{{ h }}" role="img"
 aria-label="Token yield (line) and spend (bars) by week">
{% for x, y, width, height in bars %}
<rect x="{{ x }}" y="{{ y }}" width="{{ width }}" height="{{ height }}" fill="#cbd5e0"/>
{% endfor %}
<polyline points="{{ points }}" fill="none" stroke="#2f855a" stroke-width="2"/>
<text x="0" y="{{ h - 4 }}" font-size="11">{{ first }}</text>
<text x="{{ w }}" y="{{ h - 4 }}" font-size="11" text-anchor="end">{{ last }}</text>
</svg>"""
)


def render(digest: Digest, sender: str, to: list[str], name: str) -> EmailMessage:
    """The message: subject with the headline, text and HTML parts, a stable Message-ID."""
    message = EmailMessage()
    message["Subject"] = c.clean(f"{c.title(digest)}: {digest.headline}", MAX_SUBJECT)
    message["From"] = sender
    message["To"] = ", ".join(to)
    key = re.sub(r"[^A-Za-z0-9.-]", "-", f"{digest.installation_id}.{digest.period.label}.{name}")
    message["Message-ID"] = f"<digest.{key}@yield-auditor>"
    message.set_content(text(digest))
    message.add_alternative(html(digest), subtype="html")
    return message


def _rows(items: Any, key: str) -> tuple[list[Any], str | None]:
    """At most ``MAX_ROWS[key]`` items, and the marker for the rest."""
    limit = MAX_ROWS[key]
    items = list(items)
    return items[:limit], c.more(len(items) - limit) if len(items) > limit else None


def text(digest: Digest) -> str:
    style = c.PLAIN
    parts = [c.title(digest), "", c.headline(digest, style), "", "Scorecard vs the previous period"]
    parts += ["- {}: {}".format(*c.figure_text(f, style)) for f in digest.scorecard]
    url = c.safe_url(digest.dashboard_url)
    parts += ["", c.trend_line(digest, style) + (f" (dashboard: {url})" if url else "")]
    for heading, key, line in _SECTIONS:
        items, rest = _rows(getattr(digest, key), key)
        parts += [
            "",
            heading,
            *[f"- {line(item, style)}" for item in items],
            *([rest] if rest else []),
        ]
    notes, rest = _rows(c.notes(digest, style), "notes")
    parts += ["", *notes, *([rest] if rest else []), "--", *c.footer(style)]
    return "\n".join(parts) + "\n"


_SECTIONS = (
    ("Tier × task class", "matrix", c.cell_line),
    ("Needs attention", "attention", c.attention_line),
    ("Mis-routes", "misroutes", c.misroute_line),
    ("Recommendations", "advice", c.advice_line),
)


def html(digest: Digest) -> str:
    """The HTML part; every value is autoescaped by the template."""
    style = c.PLAIN
    matrix, rest = _rows(digest.matrix, "matrix")
    rows = [c.cell_columns(cell, style) for cell in matrix] + ([(rest,)] if rest else [])
    return _HTML.render(
        title=c.title(digest),
        headline=c.headline(digest, style),
        scorecard_columns=("Figure", "This period", "Previous", "Change", "Out of", "Coverage"),
        scorecard=[c.figure_columns(f, style) for f in digest.scorecard],
        chart=chart(digest),
        dashboard=c.safe_url(digest.dashboard_url),
        matrix_columns=(
            "Tier",
            "Task class",
            "Shipped",
            "First-pass yield",
            "Token yield",
            "$/shipped",
        ),
        matrix=rows,
        lists=[
            ("Needs attention", _linked(digest.attention, "attention", c.attention_line)),
            ("Mis-routes", _linked(digest.misroutes, "misroutes", c.misroute_line)),
            ("Recommendations", _linked(digest.advice, "advice", c.advice_line)),
            ("Notes", _linked(c.notes(digest, style), "notes", lambda note, _: note)),
        ],
        footer=[Markup(line) for line in c.footer(_FOOTER_STYLE)],  # noqa: S704 (fixed text)
    )


def _linked(items: Any, key: str, line: Any) -> list[tuple[str, str | None]]:
    """(plain text, safe URL or None) per item; the link wraps the whole line."""
    shown, rest = _rows(items, key)
    plain = c.Style(escape=lambda t: t, link=lambda url, label: label)
    rows = [(line(item, plain), c.safe_url(getattr(item, "url", None))) for item in shown]
    return rows + ([(rest, None)] if rest else [])


def chart(digest: Digest) -> Markup | str:
    """An inline SVG: spend as bars (scaled to the largest week), token yield as a line."""
    points = digest.trend[-12:]
    if not points:
        return "No history yet."
    w, h, pad = CHART["width"], CHART["height"], CHART["pad"]
    step = w / len(points)
    spend = [max(c.finite(p.spend_usd) or 0.0, 0.0) for p in points]
    top = max(spend) or 1.0
    bars, line = [], []
    for i, point in enumerate(points):
        height = spend[i] / top * (h - 2 * pad)
        bars.append(
            (
                round(i * step + 2, 1),
                round(h - pad - height, 1),
                round(step - 4, 1),
                round(height, 1),
            )
        )
        token_yield = c.finite(point.token_yield)
        if token_yield is not None:
            y = h - pad - min(max(token_yield, 0.0), 1.0) * (h - 2 * pad)
            line.append(f"{round(i * step + step / 2, 1)},{round(y, 1)}")
    first, last = (c.clean(p.week, 12) for p in (points[0], points[-1]))
    svg = _CHART.render(w=w, h=h, bars=bars, points=" ".join(line), first=first, last=last)
    return Markup(svg)  # noqa: S704 (the chart's own template escaped every value)


class EmailChannel(Channel):
    type = "email"

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.to = _addresses(spec)
        self.sender = spec.text("from")
        if not _ADDRESS.fullmatch(self.sender):
            raise spec.error("'from' must be one e-mail address")
        self.host = spec.text("host")
        self.security = spec.raw.get("security", "starttls")
        if self.security not in SECURITY:
            raise spec.error(f"'security' must be one of {', '.join(SECURITY)}")
        self.port = spec.integer("port", SECURITY[self.security])
        self.username = spec.optional("username")
        self._password = spec.secret("password", required=self.username is not None)

    def render(self, digest: Digest) -> EmailMessage:
        return render(digest, self.sender, self.to, self.name)

    def send(self, digest: Digest) -> None:
        """Deliver once; retried on transient failures, at most ``retries`` more times."""
        message = self.render(digest)
        message["Date"] = formatdate(usegmt=True)
        for attempt in range(self.retries + 1):
            failure = self._attempt(message)
            if failure is None:
                return
            logger.warning("%s (attempt %d)", failure, attempt + 1)
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise ChannelError(failure)

    def _attempt(self, message: EmailMessage) -> str | None:
        """None once sent, the failure if it may pass, or ``ChannelError`` if it will not."""
        try:
            self._deliver(message)
        except _PERMANENT as exc:
            raise ChannelError(f"channel {self.name!r}: {type(exc).__name__}") from None
        except smtplib.SMTPResponseException as exc:
            failure = f"channel {self.name!r}: the SMTP server answered {exc.smtp_code}"
            if exc.smtp_code >= 500:
                raise ChannelError(failure) from None
            return failure
        except (smtplib.SMTPException, OSError) as exc:
            return f"channel {self.name!r}: {type(exc).__name__}"
        return None

    def _deliver(self, message: EmailMessage) -> None:
        with self._connect() as smtp:
            if self.username is not None:
                assert self._password is not None
                smtp.login(self.username, self._password)
            smtp.send_message(message, from_addr=self.sender, to_addrs=self.to)

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT_SECONDS, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp


def _addresses(spec: Spec) -> list[str]:
    to = spec.raw.get("to")
    if isinstance(to, str):
        to = [to]
    if (
        not isinstance(to, list)
        or not to
        or not all(isinstance(a, str) and _ADDRESS.fullmatch(a) for a in to)
    ):
        raise spec.error("'to' must be a list of e-mail addresses")
    return to
