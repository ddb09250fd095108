"""What every channel says, as lines: numbers printed by ``bot.format``, untrusted text
escaped by the channel's ``Style``.

Every string in a ``Digest`` that is not a number is untrusted (it came from a commit, a trailer,
a pull request title or the configuration). ``piece`` cleans it (no control or bidi characters,
one line), escapes it for the channel, and caps the *escaped* length, so each line has a known
bound and ``clip`` can drop whole lines to fit a section's budget without breaking its markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import DOCS_URL
from bot import format as fmt
from bot.digest.model import Advice, AttentionItem, Cell, Digest, Figure, Misroute
from bot.digest.render import leak_text
from bot.render.audit import estimate, points
from bot.render.jinja import plain, safe_url

NAME = 48  # escaped characters of a name (tier, task class, figure, repository)
TITLE = 120  # ... of a title, a reason, a denominator
LONG = 400  # ... of a headline or a recommendation's sentence


@dataclass(frozen=True, slots=True)
class Style:
    """How one format escapes untrusted text, makes it bold and links it."""

    escape: Callable[[str], str]
    bold: Callable[[str], str] = lambda text: text
    link: Callable[[str, str], str] = lambda url, label: f"{label} <{url}>"


PLAIN = Style(escape=lambda text: text)


def clean(value: Any, limit: int) -> str:
    """One line of visible text, at most ``limit`` characters."""
    return plain(str(value)[: limit * 4], limit)  # a prefix: enough once invisibles are dropped


def piece(style: Style, value: Any, limit: int = NAME) -> str:
    """Untrusted ``value`` escaped for ``style``, at most ``limit`` characters once escaped."""
    text = clean(value, limit)
    out = style.escape(text)
    while len(out) > limit:
        text = text[: max(len(text) - (len(out) - limit) - 1, 0)].rstrip("…") + "…"
        out = style.escape(text)
    return out


def linked(style: Style, url: str | None, label: Any, limit: int = TITLE) -> str:
    text = piece(style, label, limit)
    safe = safe_url(url)
    return style.link(safe, text) if safe else text


def clip(lines: Sequence[str], budget: int) -> list[str]:
    """Whole lines that fit ``budget`` characters (joined by newlines), then "… and N more"."""
    if sum(len(line) + 1 for line in lines) <= budget + 1:
        return list(lines)
    room = budget - len(more(len(lines))) - 1
    kept: list[str] = []
    for line in lines:
        room -= len(line) + 1
        if room < 0:
            break
        kept.append(line)
    return [*kept, more(len(lines) - len(kept))]


def more(count: int) -> str:
    return f"… and {count} more"


# --------------------------------------------------------------------------- numbers


def interval(bounds: tuple[float, float] | None, format: Callable[[Any], str] = fmt.share) -> str:
    return "" if bounds is None else f" [{format(bounds[0])}–{format(bounds[1])}]"


# --------------------------------------------------------------------------- lines


def title(digest: Digest, style: Style = PLAIN) -> str:
    account = piece(style, digest.account, NAME)
    return f"Token yield digest {piece(style, digest.period.label, 20)} · {account}"


def headline(digest: Digest, style: Style) -> str:
    return piece(style, digest.headline, LONG)


ROUTING = "Does routing pay?"


def routing_lines(digest: Digest, style: Style) -> list[str]:
    """The routing scorecard: what it covers, its figures with their 90% intervals, where the
    leak went, then what would settle each thin cell; none without a routed task."""
    r = digest.routing
    if r is None:
        return []
    reference = piece(style, r.reference, NAME)
    lines = [
        f"{fmt.count(r.covered_tasks)} of {fmt.count(r.tasks)} routed tasks finished since "
        f"{piece(style, r.since, 12)} weighed, against every task on {reference}"
    ]
    if r.realised_saving is not None:
        lines += [
            f"Invoice saving: {fmt.share(r.invoice_saving)} (the same tokens at {reference}'s"
            " dollars per token)",
            f"Realised saving per shipped task (90%): {estimate(r.realised_saving)}",
            f"Shipped rate against {reference}: {points(r.shipped_points)}",
            f"Leak (invoice minus realised saving): {piece(style, leak_text(r), LONG)}",
        ]
    return lines + [f"Too little data: {piece(style, t.settle, LONG)}" for t in r.thin]


def figure_columns(figure: Figure, style: Style) -> tuple[str, str, str, str, str, str]:
    """Name, value, previous, change, denominator, coverage."""
    coverage = "" if figure.coverage is None else f"{fmt.share(figure.coverage)} priced"
    return (
        piece(style, figure.name, NAME),
        fmt.figure(figure.value, figure.unit),
        fmt.figure(figure.previous, figure.unit),
        fmt.change(figure.value, figure.previous, figure.unit) or "no previous period",
        piece(style, figure.denominator, TITLE),
        coverage,
    )


def figure_text(figure: Figure, style: Style) -> tuple[str, str]:
    """(name, "71% (+6 pts; was 65%) · of 34 tasks · 98% priced")."""
    name, value, previous, delta, denominator, coverage = figure_columns(figure, style)
    detail = " · ".join(part for part in (denominator, coverage) if part)
    body = f"{value} ({delta}; was {previous})"
    return name, f"{body} · {detail}" if detail else body


def cell_columns(cell: Cell, style: Style) -> tuple[str, str, str, str, str, str]:
    """Tier, task class, shipped/tasks, first-pass yield with interval, token yield, $/shipped."""
    return (
        piece(style, cell.tier, NAME),
        piece(style, cell.task_class, NAME),
        f"{cell.shipped_tasks}/{cell.tasks}",
        fmt.share(cell.first_pass_yield) + interval(cell.interval),
        fmt.share(cell.token_yield),
        fmt.money_per(cell.cost_per_shipped_task, cell.shipped_tasks),
    )


def cell_line(cell: Cell, style: Style) -> str:
    tier, task_class, shipped, first_pass, token_yield, cost = cell_columns(cell, style)
    return (
        f"{style.bold(tier)} × {task_class}: {shipped} shipped · first-pass {first_pass}"
        f" · token yield {token_yield} · {cost} per shipped task"
    )


def attention_line(item: AttentionItem, style: Style) -> str:
    where = piece(style, item.repository, NAME)
    reason = piece(style, item.reason, TITLE)
    return f"{linked(style, item.url, item.title)} ({where}) · {fmt.money(item.usd)} · {reason}"


def misroute_line(item: Misroute, style: Style) -> str:
    where = piece(style, item.repository, NAME)
    route = f"{piece(style, item.from_tier, NAME)} → {piece(style, item.to_tier, NAME)}"
    burned = fmt.money(item.usd_burned)
    return f"{linked(style, item.url, item.task)} ({where}) · {route} · {burned} burned"


def advice_line(advice: Advice, style: Style) -> str:
    action = style.bold(piece(style, advice.action.upper(), 16))
    route = f"{piece(style, advice.from_tier, NAME)} → {piece(style, advice.to_tier, NAME)}"
    return f"{action} {piece(style, advice.task_class, NAME)}: {route}. {standing(advice, style)}"


def standing(advice: Advice, style: Style) -> str:
    """The sentence, then P(cheaper) and the saving with its interval when known."""
    parts = [piece(style, advice.text, LONG)]
    if fmt.finite(advice.p_cheaper) is not None:
        parts.append(f"P(saves ≥ 5%) {fmt.share(advice.p_cheaper)}")
    if fmt.finite(advice.saving) is not None:
        saving = interval(advice.saving_interval, fmt.money)
        parts.append(f"saving {fmt.money(advice.saving)} per shipped task{saving}")
    return " · ".join(parts)


def trend_line(digest: Digest, style: Style) -> str:
    points = [f"{piece(style, p.week, 12)} {fmt.share(p.token_yield)}" for p in digest.trend[-12:]]
    return "Token yield by week: " + (", ".join(points) if points else "no history yet")


def notes(digest: Digest, style: Style) -> list[str]:
    return [piece(style, note, LONG) for note in digest.notes]


def footer(style: Style) -> list[str]:
    """How to change the schedule, mute this channel, and what the figures mean."""
    return [
        "Change the schedule: `schedule` and `timezone` of this [[digests]] entry; mute this"
        " channel: add its name to `muted` ("
        + style.link(f"{DOCS_URL}/channels.md", "channels")
        + ").",
        "What the figures mean: " + style.link(f"{DOCS_URL}/metrics.md", "docs/metrics.md") + ".",
    ]


def lines(items: Iterable[Any], line: Callable[[Any, Style], str], style: Style) -> list[str]:
    return [line(item, style) for item in items]


def fit(render: Callable[[float], Any], size: Callable[[Any], int], limit: int) -> Any:
    """The first rendering at a shrinking scale of the section budgets that fits ``limit``."""
    for scale in (1.0, 0.6, 0.35, 0.2, 0.1):
        payload = render(scale)
        if size(payload) <= limit:
            return payload
    return render(0.0)  # fixed parts only (title, headline, footer): always within limits
