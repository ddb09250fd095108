"""The one factory of Jinja environments, and the escaping each output kind needs.

Every template renders through ``environment(kind)``: the project's templates, undefined names
raise (``StrictUndefined``), and the figure filters of ``bot.format`` under one set of
names (``money``, ``cost``, ``share``, ``tokens``, ``count``, ``figure``), so a figure reads the
same in every output. Untrusted text (commit messages, trailers, titles) is made safe per kind:

- ``html``, ``svg``: autoescaped; SVG also drops control characters (invalid in XML).
- ``markdown``: every ``{{ value }}`` goes through ``md`` unless it is ``Md`` (built from
  numbers and fixed words) or a number; the figure filters return ``Md``.
- ``text``: control characters dropped and whitespace collapsed (no terminal escapes).

Flask's own environment gets the same filters from ``add_filters``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from bot import format as fmt


def _templates() -> Path:
    """The project keeps its templates in the top-level templates/; the wheel carries them as
    bot/templates (pyproject.toml maps the one onto the other)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES = _templates()
KINDS = ("html", "svg", "markdown", "text")
MAX_VALUE = 160  # characters of one untrusted value in Markdown
MAX_URL = 500  # a longer URL is not linked
_UNSAFE_URL = re.compile(r"[\s<>|\"'`()\[\]{}\\^]")


# --------------------------------------------------------------------------- Markdown


class Md(str):
    """Markdown built from numbers and fixed words: a Markdown template emits it unescaped."""


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#|!~$])")
# Where GitHub would start an autolinked reference (docs.github.com, "Autolinked references and
# URLs"): after ``@`` (mentions, user@sha), ``#`` (#123, owner/repo#123), ``GH-`` (GH-123),
# ``www`` or a ``:`` before ``/`` (URLs), and every six hex digits (a SHA is linked from 7 digits
# on, so no run of 7 is left whole). A repository's custom autolinks (JIRA-123) only link out:
# they notify nobody, and their prefixes cannot be known here.
_AUTOLINKS = re.compile(r"[@#]|(?i:gh-|www(?=\.))|:(?=/)|[0-9A-Fa-f]{6}(?=[0-9A-Fa-f])")


def md(value: Any, limit: int = MAX_VALUE) -> Md:
    """Untrusted text as inert Markdown on one line.

    Control and format characters (bidi overrides, zero-width tricks) are dropped, whitespace
    is collapsed, the text is capped at ``limit``; HTML is entity-escaped, Markdown punctuation
    backslash-escaped, and a zero-width space breaks each of GitHub's autolinked references
    (``_AUTOLINKS``): mentions, ``#123``, ``owner/repo#123``, ``GH-123``, commit SHAs
    (``sha``, ``user@sha``, ``owner/repo@sha``) and URLs.
    """
    text = plain(value, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return Md(_AUTOLINKS.sub("\\g<0>\u200b", text))


def markdown_finalize(value: Any) -> str:
    """Every ``{{ value }}`` of Markdown: ``Md`` and numbers as they are, the rest escaped."""
    if isinstance(value, Md):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return md(value)
    return str(value)


# --------------------------------------------------------------------------- text and SVG


def plain(value: Any, limit: int | None = None) -> str:
    """Printable text on one line, at most ``limit`` characters: no terminal escapes, no bidi
    overrides or zero-width tricks, and nothing XML forbids even when escaped."""
    text = "".join(ch for ch in str(value) if ch.isprintable() or ch.isspace())
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL that no format can misread (a Markdown link, an
    attribute, a chat link), else None."""
    if not url or len(url) > MAX_URL or not url.isascii() or _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _svg_finalize(value: Any) -> Any:
    return plain(value) if isinstance(value, str) and not isinstance(value, Markup) else value


_FINALIZE: dict[str, Callable[[Any], Any] | None] = {
    "html": None,
    "svg": _svg_finalize,
    "markdown": markdown_finalize,
    "text": plain,
}


# --------------------------------------------------------------------------- the factory


def add_filters(env: Environment, kind: str = "html") -> None:
    """The figure filters of ``bot.format``; in Markdown their text is trusted ``Md``."""
    if kind == "markdown":
        env.filters.update({name: _trusted(f) for name, f in fmt.FILTERS.items()})
    else:
        env.filters.update(fmt.FILTERS)


def _trusted(formatter: Callable[..., str]) -> Callable[..., Md]:
    return lambda *args, **kwargs: Md(formatter(*args, **kwargs))


def environment(kind: str) -> Environment:
    """A Jinja environment on the project's templates for output of ``kind`` (``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=kind in ("html", "svg"),  # noqa: S701 - Markdown and text escape in finalize
        finalize=_FINALIZE[kind],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    add_filters(env, kind)
    return env
